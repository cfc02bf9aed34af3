"""Signed webhooks when jobs end, delivered by the worker to a real receiver on loopback and verified
with the official `openai` SDK: retries on 5xx and timeouts, dead letters and retry by hand, no
redirects, refused addresses, other users' endpoints 404, and a worker killed mid-delivery."""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import Stack, register, stack_with
from tests.integration.v1_fixtures import client, new_key, poll
from tests.integration.webhook_receiver import Receiver
from tests.support import free_port, migrated_database

ALLOW = {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "WEBHOOK_READ_TIMEOUT": "1", "WEBHOOK_CONNECT_TIMEOUT": "1",
         "WEBHOOK_BACKOFF_INITIAL": "0.2", "WEBHOOK_BACKOFF_MAX": "1", "WEBHOOK_SWEEP_INTERVAL": "0.3",
         "WEBHOOK_MAX_ATTEMPTS": "3", "BATCH_SYNC_LIMIT": "1",
         "WEBHOOK_DELIVERIES_PER_WINDOW": "4", "WEBHOOK_RATE_WINDOW": "5", "WEBHOOK_REQUEUE_AFTER": "5"}
RATE_WINDOW = 5


@pytest.fixture(scope="module")
def hooks_database(pg_admin_url: str, run_id: str):
    """A database of its own: every stack's worker sweeps the pending deliveries of the database it reads,
    and the run's other stacks do not allow loopback receivers, so they would refuse these deliveries."""
    with migrated_database(pg_admin_url, f"chat_test_{run_id}_hooks") as url:
        yield url


@pytest.fixture(scope="module")
def hooks(stack_env: dict[str, str], redis_prefix: str, log_dir: Path, hooks_database: str):
    env = stack_with(stack_env, redis_prefix, "hooks", DATABASE_URL=hooks_database, **ALLOW)
    with Stack("hooks", env, log_dir) as stack:
        yield stack


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture()
def web(hooks: Stack):
    with httpx.Client(base_url=hooks.url, timeout=30) as c:
        yield c


@pytest.fixture()
def who(web: httpx.Client) -> dict:
    user = register(web)
    user["key"] = new_key(web, user["headers"])["key"]
    user["sdk"] = client(web.base_url.__str__().rstrip("/"), user["key"])
    return user


def endpoint(who: dict, url: str, events: list[str]):
    return who["sdk"].webhooks.create(name="test", url=url, event_types=events)


def verified(hit, secret: str):
    """The official SDK checks the signature (and the timestamp) and parses the event."""
    sdk = openai.OpenAI(api_key="unused", webhook_secret=secret)
    return sdk.webhooks.unwrap(hit.body, hit.headers)


def wait_hits(receiver: Receiver, path: str, n: int, timeout: float = 30.0):
    return poll(lambda: receiver.hits_on(path), lambda hits: len(hits) >= n, timeout=timeout)


def sent_at_once(web: httpx.Client, who: dict, endpoint_id: str, n: int) -> None:
    """The job's end sent its deliveries itself: each was delivered, on its first attempt, before the
    sweep would have picked it up (WEBHOOK_REQUEUE_AFTER after it was recorded)."""
    # The receiver has the calls; the worker records them as delivered once it has their answers.
    rows = poll(lambda: deliveries(web, who, endpoint_id),
                lambda rows: len(rows) == n and all(d["state"] == "delivered" for d in rows), timeout=10)
    assert len(rows) == n and all(d["state"] == "delivered" and d["attempts"] == 1 for d in rows), rows
    assert all(d["deliveredAt"] - d["createdAt"] < float(ALLOW["WEBHOOK_REQUEUE_AFTER"]) * 1000 for d in rows), rows


def deliveries(web: httpx.Client, who: dict, endpoint_id: str) -> list[dict]:
    r = web.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=who["headers"])
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def wait_state(web, who, endpoint_id: str, state: str, timeout: float = 30.0) -> list[dict]:
    return poll(lambda: deliveries(web, who, endpoint_id),
                lambda rows: bool(rows) and all(d["state"] == state for d in rows), timeout=timeout)


def test_manage_endpoints_with_the_sdk(who, receiver):
    sdk = who["sdk"]
    created = endpoint(who, receiver.script("/manage", (200, 0)), ["response.completed"])
    assert created.signing_secret.startswith("whsec_") and created.object == "webhook_endpoint"
    got = sdk.webhooks.retrieve(created.id)
    assert got.url == created.url and "signing_secret" not in got.model_dump(exclude_none=True)
    updated = sdk.webhooks.update(created.id, name="renamed", event_types=["batch.completed", "batch.failed"])
    assert updated.name == "renamed" and updated.event_types == ["batch.completed", "batch.failed"]
    assert [e.id for e in sdk.webhooks.list()] == [created.id]
    rotated = sdk.webhooks.rotate_secret(created.id)
    assert rotated.signing_secret != created.signing_secret
    result = sdk.webhooks.test(created.id, event_type="batch.completed")
    assert result.status_code == 200 and result.success
    hit = receiver.hits_on("/manage")[-1]
    assert verified(hit, rotated.signing_secret).type == "batch.completed"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        verified(hit, created.signing_secret)  # the old secret stopped at once
    assert sdk.webhooks.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.webhooks.retrieve(created.id)


def test_bad_input_is_refused(web, who):
    sdk = who["sdk"]
    with pytest.raises(openai.BadRequestError):
        sdk.webhooks.create(name="x", url="ftp://127.0.0.1/x", event_types=["response.completed"])
    with pytest.raises(openai.BadRequestError):
        sdk.webhooks.create(name="x", url="http://127.0.0.1/x", event_types=["nope.nope"])  # type: ignore[list-item]
    assert list(sdk.webhooks.list()) == []
    made = [endpoint(who, f"http://127.0.0.1:9/{n}", ["response.completed"]).id for n in range(10)]
    with pytest.raises(openai.ConflictError):  # WEBHOOK_MAX_ENDPOINTS (10)
        endpoint(who, "http://127.0.0.1:9/x", ["response.completed"])
    full = [e.id for e in sdk.webhooks.list(limit=100)]
    assert sorted(full) == sorted(made)
    first = sdk.webhooks.list(limit=3)
    assert [e.id for e in first.data] == full[:3] and first.has_more
    assert [e.id for e in sdk.webhooks.list(limit=3)] == full  # auto-pagination follows `after`
    for limit in (0, 101):
        with pytest.raises(openai.BadRequestError, match="limit must be an integer from 1 to 100"):
            sdk.webhooks.list(limit=limit)
    for limit in ("0", "201", "x"):
        r = web.get(f"/api/webhooks/{made[0]}/deliveries", params={"limit": limit}, headers=who["headers"])
        assert r.status_code == 400 and r.json()["error"]["message"] == "limit must be an integer from 1 to 200"


def test_response_completed_arrives_signed(who, receiver):
    ep = endpoint(who, receiver.script("/resp", (200, 0)), ["response.completed", "response.failed"])
    r = who["sdk"].responses.create(model="demo/demo-1", input="[demo:tokens=3] hi", background=True)
    hit = wait_hits(receiver, "/resp", 1)[0]
    event = verified(hit, ep.signing_secret)
    assert event.type == "response.completed" and event.data.id == r.id
    assert hit.headers["webhook-id"] == json.loads(hit.body)["id"]


def test_api_job_and_batch_events(web, who, receiver):
    # `/api` events are ours; the SDK sends the names as given (its type hints list OpenAI's)
    ep = endpoint(who, receiver.script("/api", (200, 0)), ["job.succeeded", "batch.completed"])  # type: ignore
    job = web.post("/api/chat", json={"messages": [{"role": "user", "content": "[demo:tokens=2] a"}],
                                      "provider": "demo"}, headers=who["headers"]).json()
    batch = web.post("/api/batches", json={"requests": [{"custom_id": "b", "url": "/api/chat", "body": {
        "messages": [{"role": "user", "content": "[demo:tokens=2] b"}], "provider": "demo"}}]},
        headers=who["headers"])
    assert batch.status_code in (200, 201, 202), batch.text
    hits = wait_hits(receiver, "/api", 2)
    events = {verified(h, ep.signing_secret).type: json.loads(h.body)["data"]["id"] for h in hits}
    assert events == {"job.succeeded": job["id"], "batch.completed": batch.json()["id"]}
    sent_at_once(web, who, ep.id, 2)


def test_v1_events_failed_cancelled_and_batch(web, who, receiver):
    ep = endpoint(who, receiver.script("/v1ev", (200, 0)),
                  ["response.failed", "response.cancelled", "batch.completed"])
    sdk = who["sdk"]
    failed = sdk.responses.create(model="demo/demo-1", input="[demo:fail] x", background=True)
    long = sdk.responses.create(model="demo/demo-1", input="[demo:tokens=5000] y", background=True)
    poll(lambda: sdk.responses.retrieve(long.id), lambda x: x.status == "in_progress", timeout=15)
    sdk.responses.cancel(long.id)
    line = {"custom_id": "r0", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "demo/demo-1", "messages": [{"role": "user", "content": "[demo:tokens=2] z"}]}}
    f = sdk.files.create(file=("in.jsonl", io.BytesIO(json.dumps(line).encode() + b"\n")), purpose="batch")
    batch = sdk.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    hits = wait_hits(receiver, "/v1ev", 3)
    events = {verified(h, ep.signing_secret).type: json.loads(h.body)["data"]["id"] for h in hits}
    assert events == {"response.failed": failed.id, "response.cancelled": long.id, "batch.completed": batch.id}
    sent_at_once(web, who, ep.id, 3)


def test_conversation_batch_job_event(web, who, receiver):
    ep = endpoint(who, receiver.script("/conv", (200, 0)), ["batch.completed"])
    r = web.post("/api/conversations/batch", json=[{"title": "a"}, {"title": "b"}], headers=who["headers"])
    assert r.status_code == 202, r.text
    event = verified(wait_hits(receiver, "/conv", 1)[0], ep.signing_secret)
    assert event.type == "batch.completed" and event.data.id == r.json()["id"]
    sent_at_once(web, who, ep.id, 1)


def test_500_then_200_is_retried_and_delivered_once(web, who, receiver):
    ep = endpoint(who, receiver.script("/flaky", (500, 0), (503, 0, {"Retry-After": "0"}), (200, 0)),
                  ["response.completed"])
    who["sdk"].responses.create(model="demo/demo-1", input="[demo:tokens=2] hi", background=True)
    rows = wait_state(web, who, ep.id, "delivered")
    hits = receiver.hits_on("/flaky")
    assert len(hits) == 3 and rows[0]["attempts"] == 3 and rows[0]["lastStatus"] == 200
    assert len({h.headers["webhook-id"] for h in hits}) == 1  # one event, retried
    time.sleep(1.5)
    assert len(receiver.hits_on("/flaky")) == 3  # delivered once: no more calls


def test_a_hanging_receiver_times_out_and_is_retried(web, who, receiver):
    ep = endpoint(who, receiver.script("/hang", (200, 3), (200, 0)), ["response.completed"])
    who["sdk"].responses.create(model="demo/demo-1", input="[demo:tokens=2] hi", background=True)
    rows = wait_state(web, who, ep.id, "delivered")
    assert rows[0]["attempts"] == 2 and len(receiver.hits_on("/hang")) >= 2


def test_down_until_the_limit_goes_dead_then_retried_by_hand(web, who):
    port = free_port()
    ep = endpoint(who, f"http://127.0.0.1:{port}/down", ["response.completed"])
    who["sdk"].responses.create(model="demo/demo-1", input="[demo:tokens=2] hi", background=True)
    rows = wait_state(web, who, ep.id, "dead")
    assert rows[0]["attempts"] == 3 and rows[0]["lastError"].startswith("connection error")
    with Receiver(port) as up:
        r = web.post(f"/api/webhooks/{ep.id}/deliveries/{rows[0]['id']}/retry", headers=who["headers"])
        assert r.status_code == 202, r.text
        hit = wait_hits(up, "/down", 1)[0]
        assert hit.headers["webhook-id"] == rows[0]["webhookId"]
        verified(hit, ep.signing_secret)
        assert wait_state(web, who, ep.id, "delivered")[0]["state"] == "delivered"


def test_a_redirect_is_not_followed(web, who, receiver):
    target = receiver.script("/redirect-target", (200, 0))
    ep = endpoint(who, receiver.script("/redirect", (302, 0, {"Location": target})), ["response.completed"])
    who["sdk"].responses.create(model="demo/demo-1", input="[demo:tokens=2] hi", background=True)
    rows = wait_state(web, who, ep.id, "dead")
    assert rows[0]["lastStatus"] == 302 and rows[0]["attempts"] == 1
    assert receiver.hits_on("/redirect-target") == []


def test_a_refused_address_is_never_called(web, who, receiver):
    # 127.0.0.2 is loopback, outside the allowed 127.0.0.1/32: refused at delivery, nothing sent
    ep = endpoint(who, f"http://127.0.0.2:{receiver.port}/private", ["response.completed"])
    with pytest.raises(openai.BadRequestError):
        who["sdk"].webhooks.test(ep.id, event_type="response.completed")
    who["sdk"].responses.create(model="demo/demo-1", input="[demo:tokens=2] hi", background=True)
    rows = wait_state(web, who, ep.id, "dead")
    assert rows[0]["lastError"].startswith("refused") and rows[0]["lastStatus"] is None
    assert receiver.hits_on("/private") == []


def test_another_users_endpoints_are_not_found(web, who, receiver):
    ep = endpoint(who, receiver.script("/mine", (200, 0)), ["response.completed"])
    other = register(web)
    other_sdk = client(str(web.base_url).rstrip("/"), new_key(web, other["headers"])["key"])
    for call in (lambda: other_sdk.webhooks.retrieve(ep.id), lambda: other_sdk.webhooks.delete(ep.id),
                 lambda: other_sdk.webhooks.update(ep.id, name="x"), lambda: other_sdk.webhooks.rotate_secret(ep.id),
                 lambda: other_sdk.webhooks.test(ep.id, event_type="response.completed")):
        with pytest.raises(openai.NotFoundError):
            call()
    assert web.get(f"/api/webhooks/{ep.id}/deliveries", headers=other["headers"]).status_code == 404
    assert web.post(f"/api/webhooks/{ep.id}/deliveries/whd_x/retry", headers=other["headers"]).status_code == 404
    assert who["sdk"].webhooks.retrieve(ep.id).name == "test"  # unchanged


def test_worker_killed_mid_delivery_delivers_with_the_same_id(web, who, receiver, hooks):
    ep = endpoint(who, receiver.script("/kill", (200, 30), (200, 0)), ["response.completed"])
    who["sdk"].responses.create(model="demo/demo-1", input="[demo:tokens=2] hi", background=True)
    wait_hits(receiver, "/kill", 1)
    hooks.worker.kill9()
    hooks.worker.popen.wait(10)
    hooks.worker.start()
    rows = wait_state(web, who, ep.id, "delivered", timeout=60)
    hits = receiver.hits_on("/kill")
    assert len(hits) >= 2 and len({h.headers["webhook-id"] for h in hits}) == 1
    assert rows[0]["state"] == "delivered"


def test_delivery_rate_is_limited_per_user(web, who, receiver):
    ep = endpoint(who, receiver.script("/rate", (200, 0)), ["job.succeeded"])  # type: ignore[list-item]
    while time.time() % RATE_WINDOW > 0.3:  # start at a window's beginning: all six fall due in the same one
        time.sleep(0.05)
    for n in range(6):
        r = web.post("/api/chat", json={"messages": [{"role": "user", "content": f"[demo:tokens=1] {n}"}],
                                        "provider": "demo"}, headers=who["headers"])
        assert r.status_code == 202, r.text
    rows = wait_state(web, who, ep.id, "delivered", timeout=30)
    assert len(rows) == 6 and all(d["attempts"] == 1 for d in rows)  # waiting for the next window is no attempt
    per_window: dict[int, int] = {}
    for hit in receiver.hits_on("/rate"):
        per_window[int(hit.wall // RATE_WINDOW)] = per_window.get(int(hit.wall // RATE_WINDOW), 0) + 1
    assert max(per_window.values()) <= 4 and len(per_window) >= 2
