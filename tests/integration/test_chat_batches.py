"""Batches of chat completions (`/api/batches`, the OpenAI Batch API's shape) through a real worker."""
from __future__ import annotations

import time

import pytest

from tests.clients import sse_events


def request(custom_id: str, prompt: str, **body) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "demo-1", "messages": [{"role": "user", "content": prompt}], **body}}


def wait_batch(api, batch_id: str, headers: dict, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        batch = api.get(f"/api/batches/{batch_id}", headers=headers).json()
        if batch["status"] in ("completed", "cancelled"):
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} still {batch['status']}")


def test_a_batch_runs_every_request_and_reports_each(api, user, worker, live_server):
    reqs = [request(f"r{i}", f"[demo:tokens={i + 1}] go") for i in range(6)]
    reqs[3] = request("r3", "[demo:fail] please")
    r = api.post("/api/batches", json={"requests": reqs, "metadata": {"purpose": "nightly"}},
                 headers=user["headers"])
    assert r.status_code == 202, r.text
    batch = r.json()
    assert r.headers["Location"] == f"/api/batches/{batch['id']}"
    assert batch["object"] == "batch" and batch["status"] == "in_progress"
    assert batch["request_counts"] == {"total": 6, "completed": 0, "failed": 0, "cancelled": 0}
    assert batch["metadata"] == {"purpose": "nightly"}

    done = wait_batch(api, batch["id"], user["headers"])
    assert done["status"] == "completed" and done["finishedAt"]
    assert done["request_counts"] == {"total": 6, "completed": 5, "failed": 1, "cancelled": 0}

    results = api.get(f"/api/batches/{batch['id']}/results", headers=user["headers"]).json()["results"]
    assert [x["custom_id"] for x in results] == [f"r{i}" for i in range(6)]
    for i, x in enumerate(results):
        if i == 3:
            assert x["status"] == "failed" and x["response"] is None and x["error"]["code"]
        else:
            assert x["status"] == "succeeded" and x["error"] is None
            assert x["response"]["content"] == "".join(f"tok{k} " for k in range(i + 1))

    events = sse_events(live_server, batch["id"], user["access_token"])
    progress = [e["request_counts"] for e in events if e["type"] == "progress"]
    ended = [c["completed"] + c["failed"] for c in progress]
    assert ended == sorted(ended) and ended[-1] == 6
    assert events[-1]["type"] == "completed" and events[-1]["result"]["request_counts"]["failed"] == 1

    job = api.get(f"/api/jobs/{batch['id']}", headers=user["headers"]).json()
    assert job["kind"] == "chat_batch" and job["status"] == "succeeded"
    listed = api.get("/api/batches", headers=user["headers"]).json()
    assert [b["id"] for b in listed["batches"]] == [batch["id"]]


def test_cancelling_a_batch_stops_what_has_not_finished(api, user, worker):
    reqs = [request("quick", "[demo:tokens=1] hi")] + [request(f"slow{i}", "[demo:tokens=2000] long")
                                                       for i in range(4)]
    batch = api.post("/api/batches", json={"requests": reqs}, headers=user["headers"]).json()
    deadline = time.time() + 30
    while api.get(f"/api/batches/{batch['id']}", headers=user["headers"]).json()["request_counts"]["completed"] < 1:
        assert time.time() < deadline
        time.sleep(0.05)
    r = api.post(f"/api/batches/{batch['id']}/cancel", headers=user["headers"])
    assert r.status_code == 202 and r.json()["status"] in ("cancelling", "cancelled")
    done = wait_batch(api, batch["id"], user["headers"], timeout=30)
    assert done["status"] == "cancelled"
    assert done["request_counts"] == {"total": 5, "completed": 1, "failed": 0, "cancelled": 4}
    again = api.post(f"/api/batches/{batch['id']}/cancel", headers=user["headers"])
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


@pytest.mark.parametrize("body, status", [
    ({"requests": []}, 422),
    ({"requests": [request("a", "x"), request("a", "y")]}, 422),
    ({"requests": [request("a", "x", conversationId="conv_1")]}, 422),
    ({"requests": [{"custom_id": "a", "body": {"messages": []}}]}, 422),
    ({"requests": [request("a", "x"), request("b", "x", model="no-such-model")]}, 400),
    ({"requests": [request("a", "x", provider="nobody")]}, 400),
    ({"requests": [request("a", "x")], "extra": 1}, 422),
])
def test_bad_batches_are_refused_and_leave_nothing(api, user, body, status):
    r = api.post("/api/batches", json=body, headers=user["headers"])
    assert r.status_code == status, r.text
    assert api.get("/api/batches", headers=user["headers"]).json()["total"] == 0
    assert api.get("/api/jobs", headers=user["headers"]).json()["total"] == 0


def test_another_users_batch_is_not_found(api, user, other_user, worker):
    batch = api.post("/api/batches", json={"requests": [request("a", "[demo:tokens=1] x")]},
                     headers=user["headers"]).json()
    for method, path in [("GET", ""), ("GET", "/results"), ("POST", "/cancel")]:
        r = api.request(method, f"/api/batches/{batch['id']}{path}", headers=other_user["headers"])
        assert r.status_code == 404, (path, r.text)
    assert api.get("/api/batches", headers=other_user["headers"]).json()["total"] == 0
    assert wait_batch(api, batch["id"], user["headers"])["status"] == "completed"
