"""`GET /api/search` on PostgreSQL (index-served) and on SQLite, through a real server."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from tests.integration.conftest import register
from tests.integration.test_migrations import alembic_config
from tests.support import Proc, free_port, gunicorn_argv, wait_http_ok

SPECIAL = ["100%", "a_b", "it's", 'say "hi"', "back\\slash", "Ärger", "🚀 launch", "日本語"]


@pytest.fixture(scope="module")
def sqlite_server(stack_env: dict[str, str], log_dir: Path, tmp_path_factory) -> Iterator[str]:
    """A second server, on a migrated SQLite file, sharing the run's Redis namespace."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'chat.db'}"
    command.upgrade(alembic_config(url), "head")
    env = {**stack_env, "DATABASE_URL": url, "REDIS_KEY_PREFIX": stack_env["REDIS_KEY_PREFIX"] + "sqlite:"}
    port = free_port()
    proc = Proc("web-sqlite", gunicorn_argv(port, workers=1), env, log_dir).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(base + "/readyz", proc)
        yield base
    finally:
        proc.stop()


@pytest.fixture(params=["postgresql", "sqlite"])
def client(request, live_server: str) -> Iterator[httpx.Client]:
    base = live_server if request.param == "postgresql" else request.getfixturevalue("sqlite_server")
    with httpx.Client(base_url=base, timeout=30) as c:
        yield c


def seed(client: httpx.Client, user: dict) -> dict[str, dict]:
    """Conversations whose titles or messages hold each special string, plus decoys."""
    items = []
    for i, needle in enumerate(SPECIAL):
        items.append({"id": f"t{i}-{uuid.uuid4().hex[:8]}", "title": f"title {needle} end", "model": "gpt-4",
                      "createdAt": 1_000 + i, "updatedAt": 10_000 + i,
                      "messages": [{"role": "user", "content": "nothing here"}]})
        items.append({"id": f"m{i}-{uuid.uuid4().hex[:8]}", "title": "plain", "model": "claude",
                      "createdAt": 2_000 + i, "updatedAt": 20_000 + i,
                      "messages": [{"role": "user", "content": "first", "timestamp": 1},
                                   {"role": "assistant", "content": f"here: {needle}!", "timestamp": 2},
                                   {"role": "user", "content": f"again {needle}", "timestamp": 3}]})
    # decoys that a wildcard-interpreting search would wrongly match
    items.append({"title": "100 percent", "messages": [{"role": "user", "content": "axb it s 1000"}]})
    items.append({"title": "backslash decoy", "messages": [{"role": "user", "content": "say hi"}]})
    r = client.post("/api/conversations/batch", json=items, headers=user["headers"])
    assert r.status_code == 201, r.text
    return {c["id"]: c for c in r.json()["conversations"]}


def search(client: httpx.Client, user: dict, **params) -> httpx.Response:
    return client.get("/api/search", params=params, headers=user["headers"])


def test_special_characters_are_searched_literally(client):
    user = register(client)
    seed(client, user)
    for i, needle in enumerate(SPECIAL):
        r = search(client, user, query=needle)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["query"] == needle and body["count"] == 2, (needle, body)
        by_type = {res["match_type"]: res for res in body["results"]}
        assert by_type["title"]["conversation"]["id"].startswith(f"t{i}-")
        assert "matched_message" not in by_type["title"] or by_type["title"]["matched_message"] is None
        msg = by_type["message"]
        assert msg["conversation"]["id"].startswith(f"m{i}-")
        assert msg["matched_message"]["content"] == f"here: {needle}!"  # the first matching message
        # newest first (the message hit was updated later than the title hit)
        assert [res["match_type"] for res in body["results"]] == ["message", "title"]


def test_case_insensitive_and_filters(client):
    user = register(client)
    seed(client, user)
    assert search(client, user, query="TITLE").json()["count"] == len(SPECIAL)
    assert search(client, user, query="ärger").json()["count"] == 2
    assert search(client, user, query="HERE:").json()["count"] == len(SPECIAL)
    assert search(client, user, query="e", model="gpt-4").json()["count"] == len(SPECIAL)
    assert search(client, user, query="e", model="claude").json()["count"] == len(SPECIAL)
    body = search(client, user, query="e", date_from=2_000, date_to=2_002).json()
    assert sorted(r["conversation"]["createdAt"] for r in body["results"]) == [2_000, 2_001, 2_002]
    assert search(client, user, query="e", date_from=5_000, date_to=9_000).json()["count"] == 0


def test_pagination_and_order(client):
    user = register(client)
    seed(client, user)
    everything = []
    for page in (1, 2, 3):
        body = search(client, user, query="e", page=page, page_size=7).json()
        assert body["page"] == page and body["page_size"] == 7 and body["total"] == 2 * len(SPECIAL) + 2
        assert body["total_pages"] == 3
        everything += body["results"]
    ids = [r["conversation"]["id"] for r in everything]
    assert len(ids) == len(set(ids)) == 2 * len(SPECIAL) + 2
    keys = [(r["conversation"]["updatedAt"], r["conversation"]["id"]) for r in everything]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("params", [{}, {"query": ""}, {"query": "   "}, {"query": "x" * 201},
                                    {"query": "a", "page_size": 101}, {"query": "a", "page": 0},
                                    {"query": "a", "date_from": "yesterday"},
                                    {"query": "a", "date_from": 5, "date_to": 4}])
def test_bad_queries_are_422(client, params):
    user = register(client)
    r = search(client, user, **params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


def test_other_users_data_is_never_found(client):
    owner, stranger = register(client), register(client)
    seed(client, owner)
    for needle in SPECIAL + ["title", "here"]:
        assert search(client, stranger, query=needle).json() == {
            "query": needle, "count": 0, "page": 1, "page_size": 20, "total": 0, "total_pages": 0, "results": []}


def test_postgresql_plan_uses_the_trigram_indexes(api, database_url):
    """On a table of realistic size the planner answers both predicates from the GIN indexes."""
    from schemas.core import SearchQuery
    from services.search import like_pattern, matching_conversations

    user = register(api)
    user_id = user["user"]["id"]
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO conversations (id, user_id, title, model, created_at, updated_at) "
                "SELECT 'plan-c' || g, :u, 'conversation number ' || g, 'demo-1', g, g "
                "FROM generate_series(1, 50000) g"), {"u": user_id})
            conn.execute(text(
                "INSERT INTO messages (id, seq, conversation_id, role, content, timestamp, created_at) "
                "SELECT 'plan-m' || g, g % 10, 'plan-c' || (1 + g % 50000), 'user', "
                "'message ' || md5(g::text) || ' about topic ' || (g % 997), g, g "
                "FROM generate_series(2, 100000) g"))
            conn.execute(text("ANALYZE conversations"))
            conn.execute(text("ANALYZE messages"))
            # The searched message is added after ANALYZE: a sampled histogram that happened to hold it
            # (about 1 run in 400) would make the planner expect 1 % of the rows to match and scan them all.
            conn.execute(text(
                "INSERT INTO messages (id, seq, conversation_id, role, content, timestamp, created_at) "
                "VALUES ('plan-m0', 0, 'plan-c1', 'user', 'message ' || md5('1') || ' about topic 1', 0, 0)"))
        stmt = matching_conversations(user_id, like_pattern("c4ca4238a0b92"), SearchQuery(query="c4ca4238a0b92"))
        compiled = stmt.compile(engine)
        with engine.connect() as conn:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
        assert "ix_messages_content_trgm" in plan, plan
        assert "ix_conversations_title_trgm" in plan, plan
        assert "Seq Scan on messages" not in plan, plan
        r = search(api, user, query="c4ca4238a0b92")  # md5('1'): exactly one message
        assert r.json()["count"] == 1, r.text
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM conversations WHERE user_id = :u"), {"u": user_id})
        engine.dispose()
