"""Client-side helpers used by the integration tests: poll a job, read its WebSocket or SSE stream."""
from __future__ import annotations

import json
import time

import httpx
import websocket

TERMINAL = {"completed", "failed", "cancelled"}


def wait_job(api: httpx.Client, job_id: str, headers: dict, timeout: float = 60,
             statuses: frozenset = frozenset({"succeeded", "failed", "cancelled"})) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = api.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


def open_job_socket(base_url: str, job_id: str, token: str, after: int = 0, timeout: float = 30,
                    epoch: str | None = None, **kwargs) -> websocket.WebSocket:
    query = f"after={after}" + (f"&epoch={epoch}" if epoch else "")
    return websocket.create_connection(ws_url(base_url, f"/ws/jobs/{job_id}?{query}"), timeout=timeout,
                                       header=[f"Authorization: Bearer {token}"], **kwargs)


def read_ws_events(ws: websocket.WebSocket, limit: int | None = None) -> list[dict]:
    """Events until the terminal one (or `limit` events); the server closes after the terminal event."""
    events: list[dict] = []
    while limit is None or len(events) < limit:
        try:
            frame = ws.recv()
        except websocket.WebSocketConnectionClosedException:
            break
        if not frame:
            break
        event = json.loads(frame)
        events.append(event)
        if event["type"] in TERMINAL:
            break
    return events


def ws_events(base_url: str, job_id: str, token: str, after: int = 0) -> list[dict]:
    ws = open_job_socket(base_url, job_id, token, after)
    try:
        return read_ws_events(ws)
    finally:
        ws.close()


def sse_events(base_url: str, job_id: str, token: str, last_event_id: int | str | None = None,
               timeout: float = 60, into: list[dict] | None = None) -> list[dict]:
    """The stream's events until the server ends it (appended to `into` as they arrive, if given)."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    events: list[dict] = [] if into is None else into
    with httpx.stream("GET", f"{base_url}/api/jobs/{job_id}/events", headers=headers, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in r.iter_lines():
            if line == "":
                if "data" in fields:
                    event = json.loads(fields["data"])
                    assert fields["id"] == f"{event['epoch']}:{event['seq']}" and fields["event"] == event["type"]
                    events.append(event)
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.lstrip(" ")
    return events


def final_attempt_text(events: list[dict]) -> str:
    """The answer a client shows: tokens since the last (re)start, as the stream tells it."""
    text: list[str] = []
    for e in events:
        if e["type"] in ("started", "reset") or (e["type"] == "retry" and e.get("restarted")):
            text = []
        elif e["type"] == "token":
            text.append(e["text"])
    return "".join(text)


def assert_gapless(events: list[dict], after: int = 0) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(after + 1, after + 1 + len(seqs))), seqs
    assert sum(e["type"] in TERMINAL for e in events) == 1 and events[-1]["type"] in TERMINAL
