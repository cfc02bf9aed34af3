"""`users.conversation_count` (kept by triggers) equals a real count after every kind of write."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, func, select, text

from models import Conversation, User
from tests.clients import wait_job
from tests.integration.test_batches import items
from tests.integration.test_migrations import alembic_config


def counts(engine, user_id: str) -> tuple[int, int]:
    """(the counter, a real count) for one user."""
    with engine.connect() as conn:
        kept = conn.scalar(select(User.conversation_count).where(User.id == user_id))
        real = conn.scalar(select(func.count()).select_from(Conversation).where(Conversation.user_id == user_id))
    return kept, real


def test_counter_follows_every_write_path(api, user, other_user, worker, database_url):
    engine = create_engine(database_url)
    h = user["headers"]
    me = api.get("/api/auth/me", headers=h).json()["id"]
    try:
        steps = []
        assert api.post("/api/conversations", json={"title": "one"}, headers=h).status_code == 201
        steps.append(("create", counts(engine, me)))
        small = items(5)
        assert api.post("/api/conversations/batch", json=small, headers=h).status_code in (200, 201)
        steps.append(("small batch", counts(engine, me)))
        big = items(150)
        r = api.post("/api/conversations/batch", json=big, headers=h)
        assert r.status_code == 202, r.text
        assert wait_job(api, r.json()["id"], h)["status"] == "succeeded"
        steps.append(("batch job", counts(engine, me)))
        # someone else's ids and a repeated one change nothing
        theirs = api.post("/api/conversations", json={"title": "theirs"}, headers=other_user["headers"]).json()["id"]
        r = api.request("DELETE", "/api/conversations/batch", json=[small[0]["id"], small[0]["id"], theirs], headers=h)
        assert r.json()["deleted_count"] == 1, r.text
        steps.append(("batch delete", counts(engine, me)))
        r = api.request("DELETE", "/api/conversations/batch", json=[c["id"] for c in big], headers=h)
        assert wait_job(api, r.json()["id"], h)["status"] == "succeeded"
        steps.append(("batch delete job", counts(engine, me)))
        one = api.get("/api/conversations", headers=h).json()["conversations"][0]["id"]
        assert api.delete(f"/api/conversations/{one}", headers=h).status_code in (200, 204)
        steps.append(("delete", counts(engine, me)))
        lines = "\n".join(json.dumps({"id": f"imp-{uuid.uuid4().hex[:8]}", "title": f"i{i}", "messages": []})
                          for i in range(3))
        r = api.post("/api/conversations/import", content=lines, headers={**h, "Content-Type": "application/x-ndjson"})
        assert r.json()["created"] == 3, r.text
        steps.append(("import", counts(engine, me)))
        # a failed batch (one bad item) is rolled back whole, counter included
        assert api.post("/api/conversations/batch", json=[*items(2), {"title": 5}], headers=h).status_code == 422
        steps.append(("rejected batch", counts(engine, me)))

        for name, (kept, real) in steps:
            assert kept == real, (name, kept, real)
        assert [real for _, (_, real) in steps] == [1, 6, 156, 155, 5, 4, 7, 7]
        assert api.get("/api/conversations", headers=h).json()["total"] == 7
        assert counts(engine, api.get("/api/auth/me", headers=other_user["headers"]).json()["id"]) == (1, 1)
    finally:
        engine.dispose()


def test_sqlite_triggers_and_backfill(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0005")
    engine = create_engine(url)
    with engine.begin() as conn:
        for uid in ("u1", "u2"):
            conn.execute(text("INSERT INTO users (id, username, email, password_hash, created_at, updated_at) "
                              "VALUES (:u, :u, :u || '@x.org', 'h', 0, 0)"), {"u": uid})
        for i in range(3):
            conn.execute(text("INSERT INTO conversations (id, user_id, title, model, created_at, updated_at) "
                              "VALUES (:i, 'u1', 't', 'm', 0, 0)"), {"i": f"c{i}"})
    engine.dispose()
    command.upgrade(cfg, "head")  # the backfill counts what was there before the triggers
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO conversations (id, user_id, title, model, created_at, updated_at) "
                          "VALUES ('c9', 'u2', 't', 'm', 0, 0)"))
        conn.execute(text("DELETE FROM conversations WHERE id IN ('c0', 'c1')"))
    assert counts(engine, "u1") == (1, 1)
    assert counts(engine, "u2") == (1, 1)
    engine.dispose()
