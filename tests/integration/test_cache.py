"""Cached lists and stats: served from Redis until a write, never stale after one; gzip of large bodies."""
from __future__ import annotations

import gzip
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.clients import wait_job


@pytest.fixture(scope="module")
def engine(database_url):
    e = create_engine(database_url)
    yield e
    e.dispose()


def listing(api, user, **params) -> dict:
    r = api.get("/api/conversations", params=params, headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def stats(api, user) -> dict:
    r = api.get("/api/users/me/stats", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def new_items(n: int, messages: int = 1) -> list[dict]:
    return [{"id": f"c-{uuid.uuid4().hex[:10]}", "title": f"t{i}",
             "messages": [{"role": "user", "content": f"hello {j}", "tokens": 3, "model": "gpt-4"}
                          for j in range(messages)]} for i in range(n)]


def test_reads_are_served_from_the_cache_until_a_write(api, user, engine):
    conv = api.post("/api/conversations", json={"title": "original"}, headers=user["headers"]).json()
    assert listing(api, user)["conversations"][0]["title"] == "original"
    assert stats(api, user)["conversations"] == 1
    with engine.begin() as conn:  # behind the API's back: the cache cannot know
        conn.execute(text("UPDATE conversations SET title = 'changed behind' WHERE id = :id"), {"id": conv["id"]})
        conn.execute(text("INSERT INTO conversations (id, user_id, title, model, created_at, updated_at) "
                          "VALUES (:id, :u, 'sneaked in', 'demo-1', 1, 1)"),
                     {"id": f"c-{uuid.uuid4().hex[:8]}", "u": user["user"]["id"]})
    assert listing(api, user)["conversations"][0]["title"] == "original"  # cached
    assert stats(api, user)["conversations"] == 1  # cached
    api.post(f"/api/conversations/{conv['id']}/messages", json={"role": "user", "content": "x"},
             headers=user["headers"])  # any write through the API invalidates
    assert listing(api, user)["conversations"][0]["title"] == "changed behind"
    assert stats(api, user)["conversations"] == 2


def test_no_stale_read_after_any_kind_of_write(api, user, worker):
    h = user["headers"]

    def probe() -> tuple[dict, dict]:
        return listing(api, user, page_size=100), stats(api, user)

    probe()
    conv = api.post("/api/conversations", json={"title": "one", "messages": [
        {"role": "user", "content": "hi", "tokens": 5, "model": "gpt-4"}]}, headers=h).json()
    page, st = probe()
    assert page["total"] == 1 and st["conversations"] == 1 and st["tokens"]["byModel"] == {"gpt-4": 5}

    assert api.patch(f"/api/conversations/{conv['id']}", json={"title": "renamed"}, headers=h).status_code == 200
    page, _ = probe()
    assert page["conversations"][0]["title"] == "renamed"

    api.post(f"/api/conversations/{conv['id']}/messages", json={"role": "assistant", "content": "yo", "tokens": 7},
             headers=h)
    page, st = probe()
    assert page["conversations"][0]["messageCount"] == 2 and page["conversations"][0]["lastMessage"]["content"] == "yo"
    assert st["messages"] == 2 and st["tokens"]["total"] == 12

    small = new_items(3)
    assert api.post("/api/conversations/batch", json=small, headers=h).status_code == 201
    page, st = probe()
    assert page["total"] == 4 and st["messages"] == 5

    big = new_items(120)
    job = api.post("/api/conversations/batch", json=big, headers=h).json()
    assert wait_job(api, job["id"], h)["status"] == "succeeded"
    page, st = probe()
    assert page["total"] == 124 and st["conversations"] == 124

    r = api.request("DELETE", "/api/conversations/batch", json=[c["id"] for c in small], headers=h)
    assert r.json()["deleted_count"] == 3
    page, st = probe()
    assert page["total"] == 121 and st["messages"] == 122

    job = api.request("DELETE", "/api/conversations/batch", json=[c["id"] for c in big], headers=h).json()
    assert wait_job(api, job["id"], h)["status"] == "succeeded"
    page, st = probe()
    assert page["total"] == 1 and st["conversations"] == 1

    lines = "\n".join(__import__("json").dumps(c) for c in new_items(2)) + "\n"
    r = api.post("/api/conversations/import", content=lines, headers={**h, "Content-Type": "application/x-ndjson"})
    assert r.json()["created"] == 2
    page, st = probe()
    assert page["total"] == 3

    assert api.delete(f"/api/conversations/{conv['id']}", headers=h).status_code == 204
    page, st = probe()
    assert page["total"] == 2 and conv["id"] not in [c["id"] for c in page["conversations"]]

    target = page["conversations"][0]["id"]
    job = api.post("/api/chat", json={"messages": [{"role": "user", "content": "[demo:tokens=4] go"}],
                                      "model": "demo-1", "conversationId": target}, headers=h).json()
    page, st = probe()  # the user's message is stored at submission
    before = next(c for c in page["conversations"] if c["id"] == target)
    assert before["messageCount"] == 2 and before["lastMessage"]["role"] == "user"
    assert wait_job(api, job["id"], h)["status"] == "succeeded"
    page, st = probe()  # the worker stored the answer: the cache must not hide it
    after = next(c for c in page["conversations"] if c["id"] == target)
    assert after["messageCount"] == 3 and after["lastMessage"]["role"] == "assistant"
    assert st["messagesByRole"]["assistant"] == 1 and st["tokens"]["byModel"].get("demo-1", 0) > 0


def test_each_user_has_their_own_cache(api, user, other_user):
    api.post("/api/conversations", json={"title": "mine"}, headers=user["headers"])
    assert listing(api, user)["total"] == 1
    assert listing(api, other_user)["total"] == 0
    assert stats(api, other_user)["conversations"] == 0


def test_large_responses_are_gzipped_when_accepted(live_server, user, api):
    api.post("/api/conversations/batch", json=new_items(20), headers=user["headers"])
    with httpx.Client(base_url=live_server, timeout=30) as raw:
        big = raw.get("/api/conversations", headers={**user["headers"], "Accept-Encoding": "gzip"})
        assert big.headers["content-encoding"] == "gzip" and "Accept-Encoding" in big.headers["vary"]
        assert len(big.json()["conversations"]) == 20  # httpx decoded it
        small = raw.get("/api/users/me/stats", headers={**user["headers"], "Accept-Encoding": "gzip"})
        assert len(small.content) < 1000 and "content-encoding" not in small.headers
        plain = raw.get("/api/conversations", headers={**user["headers"], "Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.json() == big.json()
        with raw.stream("GET", "/api/conversations/export",
                        headers={**user["headers"], "Accept-Encoding": "gzip"}) as r:
            assert r.headers["content-encoding"] == "gzip"
            body = gzip.decompress(b"".join(r.iter_raw()))
        assert body.count(b"\n") == 20
