"""Hardening against the real stack: headers, CORS allowlist, no cookie auth, size limits, JSON-only tasks."""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import websocket

from extensions.ext_celery import celery_app
from tests.clients import open_job_socket, wait_job
from tests.support import wait_for

ALLOWED = "http://allowed.example"


def test_security_headers_on_success_error_and_document(api, user):
    for r in (api.get("/api/auth/me", headers=user["headers"]), api.get("/api/nope"), api.get("/api/auth/me"),
              api.get("/api/openapi.json")):
        h = r.headers
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "no-referrer"
        assert h["X-Frame-Options"] == "DENY"
        assert "default-src 'none'" in h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in h  # only in production, behind HTTPS
        assert r.headers["content-type"].startswith("application/json")


def test_cors_preflight_and_responses_follow_the_allowlist(api, user):
    pre = api.options("/api/conversations", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in pre.headers

    bad = api.options("/api/conversations", headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in bad.headers

    ok = api.get("/api/conversations", headers={**user["headers"], "Origin": ALLOWED})
    assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-ID" in ok.headers["Access-Control-Expose-Headers"] and "Origin" in ok.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in ok.headers
    other = api.get("/api/conversations", headers={**user["headers"], "Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Origin" not in api.get("/healthz").headers  # no Origin, no CORS headers


def test_a_token_in_a_cookie_is_not_accepted(api, user):
    token = user["access_token"]
    for name in ("access_token_cookie", "access_token", "token", "Authorization"):
        api.cookies.clear()
        r = api.get("/api/auth/me", headers={"Cookie": f"{name}={token}"})
        assert r.status_code == 401, name
        r = api.post("/api/conversations", headers={"Cookie": f"{name}={token}"}, json={"title": "csrf"})
        assert r.status_code == 401, name
    assert api.get("/api/auth/me", headers=user["headers"]).status_code == 200


def test_request_bodies_are_limited(api, user, settings):
    big = "x" * (settings.max_content_length + 10)
    r = api.post("/api/conversations", headers={**user["headers"], "Content-Type": "application/json"},
                 content=f'{{"title": "t", "systemPrompt": "{big}"}}')
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert api.get("/api/conversations", headers=user["headers"]).json()["total"] == 0


def test_a_large_websocket_message_closes_the_socket(api, user, live_server, settings, worker):
    job = api.post("/api/chat", headers=user["headers"], json={
        "messages": [{"role": "user", "content": "[demo:tokens=3000] long"}]}).json()
    ws = open_job_socket(live_server, job["id"], user["access_token"], timeout=10)
    try:
        ws.recv()  # the stream is live
        ws.send("x" * (settings.ws_max_frame_bytes + 1))
        closed = False
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except (websocket.WebSocketConnectionClosedException, websocket.WebSocketTimeoutException,
                    ConnectionError) as exc:
                assert not isinstance(exc, websocket.WebSocketTimeoutException), "socket stayed open"
                closed = True
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                closed = True
                assert int.from_bytes(data[:2], "big") == 1009  # "message too big"
                break
        assert closed
    finally:
        ws.close()
        api.post(f"/api/jobs/{job['id']}/cancel", headers=user["headers"])


class _Trap:
    """Unpickling this creates a directory: proof that a pickle message was deserialized."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_the_worker_refuses_pickle_messages(app, api, user, worker, tmp_path: Path):
    trap = tmp_path / f"unpickled-{uuid.uuid4().hex}"
    celery = celery_app(app)
    celery.send_task("tasks.completions.run_completion", args=[_Trap(str(trap))], serializer="pickle",
                     queue="completions")
    wait_for(lambda: "untrusted content" in worker.log_tail(400), timeout=30, what="the refusal in the worker log")
    # the worker consumed past it and still works
    job = api.post("/api/chat", headers=user["headers"], json={
        "messages": [{"role": "user", "content": "[demo:tokens=3] after pickle"}]}).json()
    assert wait_job(api, job["id"], user["headers"])["status"] == "succeeded"
    assert not trap.exists()
    assert worker.alive()


@pytest.mark.parametrize("header", ["X-Request-ID", "Idempotency-Key"])
def test_oversized_headers_are_refused_not_crashed(api, user, header):
    r = api.post("/api/chat", headers={**user["headers"], header: "a" * 300}, json={
        "messages": [{"role": "user", "content": "[demo:tokens=1] h"}]})
    assert r.status_code in (202, 422), r.text
    assert "a" * 300 not in r.headers.get("X-Request-ID", "")
