"""Jobs on the OpenAI and Anthropic providers: the worker's SDKs talk to the local fake vendor."""
from __future__ import annotations

import pytest

from tests.clients import assert_gapless, final_attempt_text, wait_job, ws_events

pytestmark = pytest.mark.usefixtures("worker")


def submit(api, user, provider, model, text):
    r = api.post("/api/chat", headers=user["headers"], json={
        "provider": provider, "model": model, "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 202, r.text
    return r.json()


@pytest.mark.parametrize("provider,model", [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")])
def test_vendor_job_streams_through_the_sdk(api, user, live_server, fake_llm, provider, model):
    job = submit(api, user, provider, model, "[fake:tokens=25] hello vendor")
    events = ws_events(live_server, job["id"], user["access_token"])
    assert_gapless(events)
    done = wait_job(api, job["id"], user["headers"])
    assert done["status"] == "succeeded"
    assert done["result"]["content"] == final_attempt_text(events) == "".join(f"w{i} " for i in range(25))
    assert done["result"]["usage"]["output_tokens"] == 25 and done["result"]["provider"] == provider


def test_rate_limit_and_server_error_are_retried(api, user, live_server, fake_llm):
    fake_llm.script([{"status": 429, "retry_after": 1}, {"status": 500}])
    job = submit(api, user, "openai", "gpt-4o-mini", "[fake:tokens=5] retry me")
    events = ws_events(live_server, job["id"], user["access_token"])
    retries = [e for e in events if e["type"] == "retry"]
    assert [r["error"]["code"] for r in retries] == ["rate_limited", "provider_unavailable"]
    done = wait_job(api, job["id"], user["headers"])
    assert done["status"] == "succeeded" and done["result"]["content"] == "w0 w1 w2 w3 w4 "


def test_mid_stream_drop_restarts_the_answer_without_mixing(api, user, live_server, fake_llm):
    fake_llm.script([{"drop_after_tokens": 4}])
    job = submit(api, user, "anthropic", "claude-sonnet-4-5", "[fake:tokens=8] drop")
    events = ws_events(live_server, job["id"], user["access_token"])
    assert_gapless(events)
    assert any(e["type"] == "retry" and e["restarted"] for e in events)
    done = wait_job(api, job["id"], user["headers"])
    assert done["result"]["content"] == final_attempt_text(events) == "".join(f"w{i} " for i in range(8))


@pytest.mark.parametrize("behaviour,code", [({"status": 401}, "auth_error"),
                                            ({"status": 400, "context_window": True}, "context_window_exceeded")])
def test_non_retryable_vendor_errors_fail_the_job_at_once(api, user, live_server, fake_llm, behaviour, code):
    fake_llm.script([behaviour])
    job = submit(api, user, "openai", "gpt-4o-mini", "fail")
    events = ws_events(live_server, job["id"], user["access_token"])
    assert [e["type"] for e in events] == ["started", "failed"]
    done = wait_job(api, job["id"], user["headers"])
    assert done["status"] == "failed" and done["error"]["code"] == code and done["attempts"] == 1
