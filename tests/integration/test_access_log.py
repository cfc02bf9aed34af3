"""The access log: one JSON line per HTTP request from the real gunicorn server (route template, status,
duration, request and user id); SSE streams and WebSockets get one line when they close."""
from __future__ import annotations

import json
import uuid

import httpx
import websocket

from tests.clients import read_ws_events, wait_job, ws_url
from tests.support import wait_for

CHAT = {"messages": [{"role": "user", "content": "[demo:tokens=3] hi"}], "provider": "demo"}


def access_lines(log_dir) -> list[dict]:
    out = []
    for raw in (log_dir / "web.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("logger") == "access":
            out.append(entry)
    return out


def line_for(log_dir, rid: str) -> dict:
    found = wait_for(lambda: [e for e in access_lines(log_dir) if e.get("request_id") == rid], timeout=10,
                     what=f"the access line of {rid}")
    assert len(found) == 1, found  # exactly one line per request
    return found[0]


def rid() -> str:
    return "acc-" + uuid.uuid4().hex


def test_one_line_per_request_with_route_template_and_user(api, user, worker, live_server, log_dir):
    uid = user["user"]["id"]
    r1 = rid()
    assert api.get("/api/conversations", headers={**user["headers"], "X-Request-ID": r1}).status_code == 200
    line = line_for(log_dir, r1)
    assert line["method"] == "GET" and line["route"] == "/api/conversations" and line["status"] == 200
    assert line["user_id"] == uid and line["kind"] == "http" and line["level"] == "INFO"
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0

    r2 = rid()
    assert api.get("/api/jobs/job_nope", headers={**user["headers"], "X-Request-ID": r2}).status_code == 404
    line = line_for(log_dir, r2)
    assert line["route"] == "/api/jobs/<job_id>" and line["status"] == 404 and "job_nope" not in json.dumps(line)

    r3 = rid()
    assert api.get("/no/such/path", headers={"X-Request-ID": r3}).status_code == 404
    line = line_for(log_dir, r3)
    assert line["route"] == "<unmatched>" and line["status"] == 404 and line.get("user_id") is None

    job = api.post("/api/chat", json=CHAT, headers=user["headers"]).json()
    wait_job(api, job["id"], user["headers"])
    r4 = rid()
    with httpx.stream("GET", f"{live_server}/api/jobs/{job['id']}/events", timeout=30,
                      headers={**user["headers"], "X-Request-ID": r4}) as r:
        assert r.status_code == 200
        body = r.read().decode()
    assert "completed" in body
    line = line_for(log_dir, r4)
    assert line["kind"] == "sse" and line["status"] == 200 and line["user_id"] == uid
    assert line["route"] == "/api/jobs/<job_id>/events"

    r5 = rid()
    ws = websocket.create_connection(ws_url(live_server, f"/ws/jobs/{job['id']}?after=0"), timeout=30, header=[
        f"Authorization: Bearer {user['access_token']}", f"X-Request-ID: {r5}"])
    try:
        assert read_ws_events(ws)[-1]["type"] == "completed"
    finally:
        ws.close()
    line = line_for(log_dir, r5)
    assert line["kind"] == "websocket" and line["status"] == 101 and line["user_id"] == uid
    assert line["route"] == "/ws/jobs/<job_id>"
