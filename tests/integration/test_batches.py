"""Batch create and delete, both sides of the job threshold (BATCH_SYNC_LIMIT, default 100)."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, func, select

from models import Conversation, Message
from tests.clients import sse_events, wait_job


def items(n: int, tag: str | None = None, messages: int = 2) -> list[dict]:
    tag = tag or uuid.uuid4().hex[:8]
    return [{"id": f"b-{tag}-{i}", "title": f"batch {i}", "model": "gpt-4", "createdAt": 1_697_467_200_000 + i,
             "updatedAt": 1_697_467_200_000 + i, "userId": "ignored",
             "messages": [{"role": "user" if j % 2 == 0 else "assistant", "content": f"m{j} of {i}"}
                          for j in range(messages)]}
            for i in range(n)]


def total(api, user) -> int:
    return api.get("/api/conversations", headers=user["headers"]).json()["total"]


@pytest.fixture(scope="module")
def db_engine(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def message_count(engine, conversation_ids: list[str]) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Message)
                           .where(Message.conversation_id.in_(conversation_ids)))


def test_small_batch_create_answers_at_once(api, user):
    batch = items(3)
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["success"] is True and body["count"] == 3
    assert [c["id"] for c in body["conversations"]] == [b["id"] for b in batch]
    first = body["conversations"][0]
    assert first["userId"] == user["user"]["id"] and first["model"] == "gpt-4"
    assert [m["content"] for m in first["messages"]] == ["m0 of 0", "m1 of 0"]
    assert api.get(f"/api/conversations/{batch[2]['id']}", headers=user["headers"]).json()["title"] == "batch 2"


@pytest.mark.parametrize("bad, index", [
    ({"title": ""}, 1),
    ({"model": "x" * 101}, 2),
    ({"messages": [{"role": "robot", "content": "?"}]}, 0),
    ({"createdAt": -5}, 1),
])
def test_one_bad_item_rejects_the_whole_batch(api, user, bad, index):
    batch = items(3)
    batch[index].update(bad)
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["details"][0]["loc"][:2] == ["body", index] and f"{index}." in err["message"]
    assert total(api, user) == 0


def test_repeated_or_taken_ids_name_the_item(api, user, other_user):
    batch = items(3)
    batch[2]["id"] = batch[0]["id"]
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", 2, "id"]
    taken = items(1)[0]
    assert api.post("/api/conversations", json=taken, headers=other_user["headers"]).status_code == 201
    batch = items(3) + [taken]
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 409 and r.json()["error"]["details"][0]["loc"] == ["body", 3, "id"]
    assert total(api, user) == 0
    assert api.post("/api/conversations/batch", json=[], headers=user["headers"]).status_code == 422


def test_big_batch_create_runs_as_a_job(api, user, worker, live_server):
    batch = items(150)
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "conversations.batch_create" and r.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["progress"] == {"done": 0, "total": 150}
    done = wait_job(api, job["id"], user["headers"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["done"] == 150
    result = done["result"]
    assert result["success"] is True and result["count"] == 150
    assert [c["id"] for c in result["conversations"]] == [b["id"] for b in batch]
    assert result["conversations"][149]["messages"][1]["content"] == "m1 of 149"
    assert total(api, user) == 150
    # progress is on the job's event stream too
    events = sse_events(live_server, job["id"], user["access_token"])
    progress = [e["done"] for e in events if e["type"] == "progress"]
    assert progress and progress[-1] == 150 and progress == sorted(progress)
    assert events[-1]["type"] == "completed"


def test_big_batch_with_a_bad_item_writes_nothing(api, user, worker):
    batch = items(150)
    batch[120]["messages"] = [{"role": "user"}]
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][:2] == ["body", 120]
    assert api.get("/api/jobs", headers=user["headers"]).json()["total"] == 0
    assert total(api, user) == 0


def test_batch_delete_counts_only_the_callers_and_removes_messages(api, user, other_user, db_engine):
    mine = items(4)
    theirs = items(2)
    api.post("/api/conversations/batch", json=mine, headers=user["headers"])
    api.post("/api/conversations/batch", json=theirs, headers=other_user["headers"])
    ids = [mine[0]["id"], mine[1]["id"], theirs[0]["id"], "no-such-id", mine[0]["id"]]
    r = api.request("DELETE", "/api/conversations/batch", json=ids, headers=user["headers"])
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "deleted_count": 2}
    assert message_count(db_engine, [mine[0]["id"], mine[1]["id"]]) == 0
    assert api.get(f"/api/conversations/{theirs[0]['id']}", headers=other_user["headers"]).status_code == 200
    assert message_count(db_engine, [theirs[0]["id"]]) == 2
    r = api.request("DELETE", "/api/conversations/batch", json={"ids": [mine[2]["id"]]}, headers=user["headers"])
    assert r.json() == {"success": True, "deleted_count": 1}
    assert total(api, user) == 1


@pytest.mark.parametrize("body", [[], {"ids": []}, ["bad id with spaces"], {"ids": "x"}, {"other": ["a"]}, 5])
def test_bad_batch_delete_is_422(api, user, body):
    api.post("/api/conversations/batch", json=items(1), headers=user["headers"])
    r = api.request("DELETE", "/api/conversations/batch", json=body, headers=user["headers"])
    assert r.status_code == 422, r.text
    assert total(api, user) == 1


def test_big_batch_delete_runs_as_a_job(api, user, other_user, worker, db_engine):
    mine = items(180, messages=1)
    theirs = items(5)
    assert wait_job(api, api.post("/api/conversations/batch", json=mine, headers=user["headers"]).json()["id"],
                    user["headers"])["status"] == "succeeded"
    api.post("/api/conversations/batch", json=theirs, headers=other_user["headers"])
    ids = [c["id"] for c in mine] + [c["id"] for c in theirs]
    r = api.request("DELETE", "/api/conversations/batch", json={"ids": ids}, headers=user["headers"])
    assert r.status_code == 202, r.text
    done = wait_job(api, r.json()["id"], user["headers"])
    assert done["status"] == "succeeded", done
    assert done["result"] == {"success": True, "deleted_count": 180}
    assert done["progress"] == {"done": 185, "total": 185, "deleted": 180}
    assert total(api, user) == 0 and total(api, other_user) == 5
    assert message_count(db_engine, [c["id"] for c in mine]) == 0
    # a stranger cannot see the job
    assert api.get(f"/api/jobs/{done['id']}", headers=other_user["headers"]).status_code == 404


def test_batch_job_resumes_after_its_last_committed_chunk(app, user):
    """A redelivered batch task continues where the lost attempt stopped and never repeats a chunk."""
    from models import Job
    from models.db import db
    from services.conversation_batches import BATCH_CREATE, BatchRunner

    batch = items(450, messages=1)
    with app.app_context():
        s = db.session()
        job = Job(user_id=user["user"]["id"], kind=BATCH_CREATE, status="running", attempts=1,
                  payload={"items": batch, "count": 450}, progress={"done": 200, "total": 450})
        s.add(job)
        s.add_all(Conversation(id=b["id"], user_id=user["user"]["id"], title=b["title"], model="gpt-4")
                  for b in batch[:200])  # what attempt 1 committed before its worker died
        s.commit()
        job_id = job.id
        db.session.remove()
        BatchRunner(app).run(job_id)
        s = db.session()
        job = s.get(Job, job_id)
        assert job.status == "succeeded" and job.attempts == 2 and job.progress["done"] == 450
        assert job.result["count"] == 450
        count = s.scalar(select(func.count()).select_from(Conversation)
                         .where(Conversation.user_id == user["user"]["id"]))
        assert count == 450
        db.session.remove()


def test_cancelling_a_batch_create_leaves_nothing(api, user, worker):
    batch = items(3000, messages=0)
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert api.post(f"/api/jobs/{job_id}/cancel", headers=user["headers"]).status_code in (200, 202)
    done = wait_job(api, job_id, user["headers"])
    assert done["status"] == "cancelled", done
    assert total(api, user) == 0
