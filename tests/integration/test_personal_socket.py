"""The personal socket `/ws` also relays the caller's job events (and only theirs)."""
from __future__ import annotations

import httpx

from tests.chat_client import ChatClient
from tests.integration.chat_fixtures import chat_env, chat_stack  # noqa: F401 - fixtures


def test_job_events_on_the_personal_socket(chat_stack):
    alice, eve = chat_stack.user(), chat_stack.user()
    with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
        r = api.post("/api/chat", json={"messages": [{"role": "user", "content": "[demo:tokens=12] hi"}],
                                        "provider": "demo"}, headers=alice["headers"])
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
    home = ChatClient(chat_stack.b, "/ws", alice["access_token"])
    home.send({"type": "follow_job", "jobId": job_id})
    end = home.until(lambda f: f.get("jobId") == job_id and f["type"] in ("completed", "failed"), timeout=60)
    assert end["type"] == "completed"
    events = [f for f in home.frames if f.get("jobId") == job_id]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len([e for e in events if e["type"] == "token"]) == 12
    other = ChatClient(chat_stack.a, "/ws", eve["access_token"])
    other.send({"type": "follow_job", "job_id": job_id})
    err = other.until(lambda f: f["type"] == "error")
    assert err["code"] == "not_found" and err["jobId"] == job_id
    home.close()
    other.close()
