"""`/v1` under the same rules as `/api`: the chat rate limit (SDK's RateLimitError with Retry-After), shared by
a user's API keys and access tokens, and the user's own provider keys."""
from __future__ import annotations

import uuid

import httpx
import openai
import pytest

from tests.integration.conftest import register
from tests.integration.private_stack import PrivateStack
from tests.integration.test_provider_keys import BASE, a_key, sent_credentials, vendor_call
from tests.integration.v1_fixtures import client, new_key, v1_user

pytestmark = pytest.mark.usefixtures("worker")


def test_a_users_own_provider_key_runs_their_v1_requests(api, live_server, fake_llm):
    u = v1_user(api)
    key = a_key()
    assert api.put(f"{BASE}/openai", headers=u["headers"], json={"apiKey": key}).status_code == 201
    marker = f"v1-{uuid.uuid4().hex}"
    c = client(live_server, u["key"])
    done = c.chat.completions.create(model="openai/gpt-4o-mini",
                                     messages=[{"role": "user", "content": f"[fake:tokens=3] {marker}"}])
    assert done.choices[0].message.content
    sent = sent_credentials(vendor_call(fake_llm, marker))
    assert key in sent and "sk-fake" not in sent


def test_chat_rate_limit_applies_to_v1_with_retry_after(stack_env, log_dir):
    with PrivateStack(stack_env, log_dir, web_servers=1, web_workers=2, workers=1, RATELIMIT_CHAT="3/minute") as s:
        with httpx.Client(base_url=s.urls[0], timeout=30) as api:
            u = register(api)
            key = new_key(api, u["headers"])["key"]
            body = {"model": "demo/demo-1", "messages": [{"role": "user", "content": "[demo:tokens=1] x"}]}
            c = client(s.urls[0], key)
            c.chat.completions.create(**body)
            c.responses.create(model="demo/demo-1", input="[demo:tokens=1] y")
            # the access token spends the same budget as the key
            client(s.urls[0], u["access_token"]).chat.completions.create(**body)
            with pytest.raises(openai.RateLimitError) as err:
                c.chat.completions.create(**body)
            assert int(err.value.response.headers["Retry-After"]) > 0
            assert err.value.code == "rate_limit_exceeded"
            assert api.post("/api/chat", json={"messages": body["messages"], "provider": "demo"},
                            headers=u["headers"]).status_code == 429
            other = register(api)  # another user's budget is their own
            client(s.urls[0], new_key(api, other["headers"])["key"]).chat.completions.create(**body)
