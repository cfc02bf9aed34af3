"""Completions as jobs through the real stack: gunicorn (gevent) + a Celery worker + PostgreSQL + Redis."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import websocket
from sqlalchemy import func, select, update

from models import Job, Message
from tests.clients import (
    assert_gapless,
    final_attempt_text,
    open_job_socket,
    read_ws_events,
    sse_events,
    wait_job,
    ws_events,
)
from tests.integration.conftest import register

pytestmark = pytest.mark.usefixtures("worker")


def chat(api, user, text="hello", **extra):
    body = {"messages": [{"role": "user", "content": text}], "provider": "demo", **extra}
    return api.post("/api/chat", json=body, headers=user["headers"])


def test_submit_poll_and_stream_over_websocket_and_sse(api, user, live_server):
    r = chat(api, user, "[demo:tokens=30] hi")
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["status"] in {"queued", "running"} and job["links"]["stream"] == f"/ws/jobs/{job['id']}"
    events = ws_events(live_server, job["id"], user["access_token"])
    assert_gapless(events)
    assert events[0]["type"] == "started" and events[-1]["type"] == "completed"
    done = wait_job(api, job["id"], user["headers"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["result"]["content"] == final_attempt_text(events)
    assert len([e for e in events if e["type"] == "token"]) == 30
    assert done["result"]["usage"]["output_tokens"] == 30
    assert done["result"]["provider"] == "demo" and done["startedAt"] and done["finishedAt"]
    # a client arriving after the end still gets the whole stream, over SSE too
    assert sse_events(live_server, job["id"], user["access_token"]) == events
    assert ws_events(live_server, job["id"], user["access_token"]) == events


def test_reconnect_with_last_seq_has_no_gap_and_no_duplicate(api, user, live_server):
    job = chat(api, user, "[demo:tokens=150] long").json()
    ws = open_job_socket(live_server, job["id"], user["access_token"])
    first = read_ws_events(ws, limit=7)
    ws.close()  # drop mid-stream
    rest = ws_events(live_server, job["id"], user["access_token"], after=first[-1]["seq"])
    events = first + rest
    assert_gapless(events)
    done = wait_job(api, job["id"], user["headers"])
    assert final_attempt_text(events) == done["result"]["content"]
    # SSE resume with Last-Event-ID gives exactly the tail
    tail = sse_events(live_server, job["id"], user["access_token"], last_event_id=events[9]["seq"])
    assert tail == events[10:]


def test_cancel_running_job_keeps_partial_content(api, user, live_server, app):
    job = chat(api, user, "[demo:tokens=5000] very long").json()
    ws = open_job_socket(live_server, job["id"], user["access_token"])
    seen = read_ws_events(ws, limit=5)
    r = api.post(f"/api/jobs/{job['id']}/cancel", headers=user["headers"])
    assert r.status_code == 202
    t0 = time.monotonic()
    seen += read_ws_events(ws)
    ws.close()
    assert time.monotonic() - t0 < 3
    assert seen[-1]["type"] == "cancelled"
    done = wait_job(api, job["id"], user["headers"])
    assert done["status"] == "cancelled"
    assert done["result"]["content"] == final_attempt_text(seen)
    assert 0 < len(done["result"]["content"].split()) < 5000


def test_cancel_queued_job_never_calls_the_provider(api, user, app):
    from services.queue import RUN_COMPLETION, send

    with app.app_context():
        from models.db import db

        job = Job(user_id=user["user"]["id"], kind="chat", status="queued",
                  payload={"provider": "demo", "model": "demo-1", "messages": [{"role": "user", "content": "x"}],
                           "temperature": 0.7, "max_tokens": 10, "conversation_id": None, "system": None})
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    r = api.post(f"/api/jobs/{job_id}/cancel", headers=user["headers"])
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    with app.app_context():
        send(RUN_COMPLETION, job_id)  # a late delivery of its task
    time.sleep(1.0)
    after = api.get(f"/api/jobs/{job_id}", headers=user["headers"]).json()
    assert after["status"] == "cancelled" and after["attempts"] == 0 and after["startedAt"] is None


def test_idempotency_key(api, user):
    key = uuid.uuid4().hex
    headers = {**user["headers"], "Idempotency-Key": key}
    body = {"messages": [{"role": "user", "content": "same"}], "provider": "demo"}
    first = api.post("/api/chat", json=body, headers=headers)
    again = api.post("/api/chat", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = api.post("/api/chat", json={**body, "temperature": 0.1}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"


@pytest.mark.parametrize("body,status", [
    ({"messages": [{"role": "user", "content": "x"}], "provider": "nope"}, 400),
    ({"messages": [{"role": "user", "content": "x"}], "provider": "demo", "model": "gpt-nope"}, 400),
    ({"messages": [], "provider": "demo"}, 422),
    ({"messages": [{"role": "wizard", "content": "x"}]}, 422),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, 422),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, 422),
])
def test_bad_submissions_are_refused_at_once(api, user, app, body, status):
    r = api.post("/api/chat", json=body, headers=user["headers"])
    assert r.status_code == status, r.text
    assert "error" in r.json()
    with app.app_context():
        from models.db import db

        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user["user"]["id"])) == 0


def test_conversation_history_and_answer_are_stored(api, user, app):
    conv = api.post("/api/conversations", json={"title": "t", "systemPrompt": "Be brief."},
                    headers=user["headers"]).json()
    r = chat(api, user, "first question", conversationId=conv["id"])
    done = wait_job(api, r.json()["id"], user["headers"])
    assert done["status"] == "succeeded" and done["conversationId"] == conv["id"]
    r2 = chat(api, user, "second question", conversationId=conv["id"])
    done2 = wait_job(api, r2.json()["id"], user["headers"])
    msgs = api.get(f"/api/conversations/{conv['id']}/messages", headers=user["headers"]).json()["messages"]
    assert [(m["role"], m["content"]) for m in msgs] == [
        ("user", "first question"), ("assistant", done["result"]["content"]),
        ("user", "second question"), ("assistant", done2["result"]["content"]),
    ]
    with app.app_context():
        from models.db import db

        payload = db.session.get(Job, done2["id"]).payload
    # the provider got the system prompt and the whole history
    assert payload["system"] == "Be brief."
    assert [m["content"] for m in payload["messages"]] == [
        "first question", done["result"]["content"], "second question"]


def test_redelivered_task_never_produces_a_second_answer(api, user, app):
    from services.queue import RUN_COMPLETION, send

    conv = api.post("/api/conversations", json={"title": "t"}, headers=user["headers"]).json()
    job = chat(api, user, "once", conversationId=conv["id"]).json()
    done = wait_job(api, job["id"], user["headers"])
    with app.app_context():
        send(RUN_COMPLETION, job["id"])
        send(RUN_COMPLETION, job["id"])
    time.sleep(1.0)
    again = api.get(f"/api/jobs/{job['id']}", headers=user["headers"]).json()
    assert again["attempts"] == done["attempts"] == 1 and again["finishedAt"] == done["finishedAt"]
    with app.app_context():
        from models.db import db

        n = db.session.scalar(select(func.count()).select_from(Message).where(Message.job_id == job["id"]))
    assert n == 1


def test_concurrent_duplicate_deliveries_run_once(api, user, app, live_server):
    from services.queue import RUN_COMPLETION, send

    job = chat(api, user, "[demo:tokens=60] dup").json()
    with app.app_context():
        for _ in range(3):
            send(RUN_COMPLETION, job["id"])
    events = ws_events(live_server, job["id"], user["access_token"])
    assert_gapless(events)
    assert sum(e["type"] == "started" for e in events) == 1
    done = wait_job(api, job["id"], user["headers"])
    assert done["attempts"] == 1 and done["result"]["content"] == final_attempt_text(events)


def test_jobs_are_private(api, user, other_user, live_server):
    job = chat(api, user, "mine").json()
    for method, path in [("GET", f"/api/jobs/{job['id']}"), ("POST", f"/api/jobs/{job['id']}/cancel"),
                         ("GET", f"/api/jobs/{job['id']}/events")]:
        r = api.request(method, path, headers=other_user["headers"])
        assert r.status_code == 404, (path, r.status_code)
        assert r.json()["error"]["code"] == "not_found"
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        ws_events(live_server, job["id"], other_user["access_token"])
    assert exc.value.status_code == 404
    listed = api.get("/api/jobs", headers=other_user["headers"]).json()
    assert job["id"] not in [j["id"] for j in listed["jobs"]]
    conv = api.post("/api/conversations", json={"title": "x"}, headers=user["headers"]).json()
    r = chat(api, other_user, "steal", conversationId=conv["id"])
    assert r.status_code == 404


def test_websocket_auth_and_origin(api, user, live_server):
    job = chat(api, user, "x").json()
    url = f"{live_server.replace('http', 'ws')}/ws/jobs/{job['id']}"
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(url, timeout=5)
    assert exc.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(url, timeout=5, header=[f"Authorization: Bearer {user['access_token']}"],
                                    origin="http://evil.example")
    assert exc.value.status_code == 403
    ws = websocket.create_connection(f"{url}?token={user['access_token']}", timeout=30,
                                     origin="http://allowed.example")
    events = read_ws_events(ws)
    ws.close()
    assert events[-1]["type"] == "completed"
    api.post("/api/auth/logout", headers=user["headers"])
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(f"{url}?token={user['access_token']}", timeout=5)
    assert exc.value.status_code == 401


def test_job_list_filters_and_pagination(api):
    u = register(api)
    ids = [chat(api, u, f"n{i}").json()["id"] for i in range(3)]
    for job_id in ids:
        wait_job(api, job_id, u["headers"])
    page = api.get("/api/jobs?page_size=2", headers=u["headers"]).json()
    assert page["total"] == 3 and page["total_pages"] == 2 and [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    assert api.get("/api/jobs?status=succeeded", headers=u["headers"]).json()["total"] == 3
    assert api.get("/api/jobs?status=queued", headers=u["headers"]).json()["total"] == 0
    assert api.get("/api/jobs?status=bogus", headers=u["headers"]).status_code == 422


def test_seed_compatible_chat_ai_waits_for_the_answer(api, user):
    r = api.post("/api/chat/ai?provider=demo", json={"messages": [{"role": "user", "content": "[demo:tokens=12] q"}]},
                 headers=user["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tokens"] == 12 and len(body["content"].split()) == 12 and body["provider"] == "demo"


def test_models_lists_the_demo_provider(api, user):
    r = api.get("/api/models", headers=user["headers"])
    assert r.status_code == 200
    demo = [p for p in r.json()["providers"] if p["provider"] == "demo"]
    assert demo and demo[0]["models"]


def test_many_concurrent_streams(api, user, live_server):
    jobs = [chat(api, user, f"[demo:tokens=40] c{i}").json()["id"] for i in range(20)]
    results: dict[str, list] = {}

    def consume(job_id: str) -> None:
        results[job_id] = ws_events(live_server, job_id, user["access_token"])

    threads = [threading.Thread(target=consume, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for job_id in jobs:
        events = results[job_id]
        assert_gapless(events)
        done = wait_job(api, job_id, user["headers"])
        assert done["result"]["content"] == final_attempt_text(events)


def test_broker_down_gives_503_and_leaves_no_job(settings, user):
    """A web app whose broker is unreachable (the database and Redis are fine)."""
    from tests.support import free_port
    from web import create_app

    broken = create_app(settings.model_copy(update={"celery_broker_url": f"redis://127.0.0.1:{free_port()}/0"}))
    client = broken.test_client()
    r = client.post("/api/chat", json={"messages": [{"role": "user", "content": "x"}], "provider": "demo"},
                    headers=user["headers"])
    assert r.status_code == 503 and r.json["error"]["code"] == "queue_unavailable"
    assert r.headers["Retry-After"]
    with broken.app_context():
        from models.db import db

        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user["user"]["id"])) == 0


def test_one_redis_subscription_per_web_process(api, user, live_server, settings):
    """Many open job sockets share their process's single pub/sub subscription."""
    import redis as redis_lib

    jobs = [chat(api, user, f"[demo:tokens=400] sub{i}").json()["id"] for i in range(12)]
    sockets = [open_job_socket(live_server, j, user["access_token"]) for j in jobs]
    try:
        for ws in sockets:
            read_ws_events(ws, limit=2)
        client = redis_lib.Redis.from_url(settings.redis_url)
        (_, subscribers), = client.pubsub_numsub(settings.redis_key_prefix + "jobs:notify")
        assert 1 <= subscribers <= 2  # the server runs two gunicorn processes
    finally:
        for ws in sockets:
            ws.close()
        for j in jobs:
            api.post(f"/api/jobs/{j}/cancel", headers=user["headers"])


def test_stream_ends_from_the_job_row_when_the_log_lost_its_terminal_event(api, user, live_server, app, settings):
    """If Redis was unreachable when a job finished, followers still end, with the stored result."""
    import redis as redis_lib

    job = chat(api, user, "[demo:tokens=3] lost").json()
    done = wait_job(api, job["id"], user["headers"])
    client = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True)
    key = settings.redis_key_prefix + f"job:{job['id']}:events"
    terminal_id = client.xrevrange(key, count=1)[0][0]
    client.xdel(key, terminal_id)  # as if the final XADD never happened
    events = ws_events(live_server, job["id"], user["access_token"])
    assert events[-1]["type"] == "completed" and events[-1]["result"] == done["result"]
    assert_gapless(events)


def test_reconciler_re_enqueues_a_lost_queued_job_but_not_a_waiting_one(settings, user):
    """A job whose message was lost is re-enqueued; one still in a backed-up queue is left alone."""
    import redis as redis_lib

    from models import now_ms
    from services.reconciler import reconcile_once
    from tests.support import delete_redis_prefix
    from web import create_app

    prefix = settings.redis_key_prefix + "recon:"  # a queue no worker consumes
    app2 = create_app(settings.model_copy(update={"redis_key_prefix": prefix}))
    client = redis_lib.Redis.from_url(settings.redis_url)
    # keep the running workers' own reconciler off this job while the test looks at it
    client.set(settings.redis_key_prefix + "reconciler:lock", "test", ex=30)
    try:
        with app2.app_context():
            from models.db import db

            job = Job(user_id=user["user"]["id"], kind="chat", status="queued", updated_at=now_ms() - 600_000,
                      payload={"provider": "demo", "model": "demo-1", "messages": [], "temperature": 0.7,
                               "max_tokens": 1, "conversation_id": None, "system": None})
            db.session.add(job)
            db.session.commit()
            job_id = job.id
        assert job_id in reconcile_once(app2)  # empty queue: its message was lost
        assert client.llen(prefix + "celery:completions") == 1
        with app2.app_context():
            db.session.execute(update(Job).where(Job.id == job_id).values(updated_at=now_ms() - 600_000))
            db.session.commit()
        client.delete(prefix + "reconciler:lock")
        assert job_id not in reconcile_once(app2)  # its message is waiting in the queue
        assert client.llen(prefix + "celery:completions") == 1
        with app2.app_context():
            db.session.execute(update(Job).where(Job.id == job_id).values(status="cancelled"))
            db.session.commit()
    finally:
        client.delete(settings.redis_key_prefix + "reconciler:lock")
        delete_redis_prefix(settings.redis_url, prefix)


def test_attempts_are_capped(api, user, app, live_server):
    """A job whose workers kept dying fails with `attempts_exhausted` instead of running forever."""
    from services.queue import RUN_COMPLETION, send

    with app.app_context():
        from models.db import db

        job = Job(user_id=user["user"]["id"], kind="chat", status="running", attempts=3,
                  payload={"provider": "demo", "model": "demo-1", "messages": [{"role": "user", "content": "x"}],
                           "temperature": 0.7, "max_tokens": 5, "conversation_id": None, "system": None})
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        send(RUN_COMPLETION, job_id)  # as the reconciler does once the lease has lapsed
    done = wait_job(api, job_id, user["headers"])
    assert done["status"] == "failed" and done["error"]["code"] == "attempts_exhausted" and done["attempts"] == 3
    events = ws_events(live_server, job_id, user["access_token"])
    assert [e["type"] for e in events] == ["failed"]
