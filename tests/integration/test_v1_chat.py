"""`/v1` with the official OpenAI Python SDK: keys, models, chat completions (streamed and not), errors."""
from __future__ import annotations

import asyncio
import time

import openai
import pytest

from tests.integration.v1_fixtures import async_client, client, new_key, poll, tokens, v1_user

pytestmark = pytest.mark.usefixtures("worker")


def test_api_key_is_shown_once_listed_masked_and_refused_at_once_when_revoked(api, live_server):
    u = v1_user(api)
    key = u["key"]
    assert key.startswith("sk-cs-") and len(key) > 40
    listed = api.get("/api/users/me/api-keys", headers=u["headers"]).json()["apiKeys"]
    assert len(listed) == 1 and "key" not in listed[0]
    assert listed[0]["prefix"] == key[:10] and listed[0]["last4"] == key[-4:]
    assert listed[0]["lastUsedAt"] is None
    c = client(live_server, key)
    assert any(m.id == "demo/demo-1" for m in c.models.list().data)
    listed = api.get("/api/users/me/api-keys", headers=u["headers"]).json()["apiKeys"]
    assert listed[0]["lastUsedAt"] is not None
    r = api.delete(f"/api/users/me/api-keys/{listed[0]['id']}", headers=u["headers"])
    assert r.status_code == 200 and r.json()["revokedAt"] is not None
    for _ in range(6):  # two web processes: every one refuses it at once
        with pytest.raises(openai.AuthenticationError) as err:
            c.models.list()
        assert err.value.code == "invalid_api_key"
    other = v1_user(api)
    assert api.delete(f"/api/users/me/api-keys/{listed[0]['id']}", headers=other["headers"]).status_code == 404


def test_expired_key_is_refused_and_access_tokens_work_too(api, live_server):
    u = v1_user(api)
    short = new_key(api, u["headers"], expiresAt=int(time.time() * 1000) + 1500)["key"]
    client(live_server, short).models.list()
    time.sleep(1.6)
    with pytest.raises(openai.AuthenticationError):
        client(live_server, short).models.list()
    assert client(live_server, u["access_token"]).models.list().data
    with pytest.raises(openai.AuthenticationError):
        client(live_server, "sk-cs-not-a-key").models.list()
    r = api.post("/api/users/me/api-keys", json={"name": "x", "expiresAt": 1}, headers=u["headers"])
    assert r.status_code == 400


def test_models_say_their_provider(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    ids = [m.id for m in c.models.list().data]
    assert "demo/demo-1" in ids and "openai/gpt-4o-mini" in ids and "anthropic/claude-haiku-4-5" in ids
    m = c.models.retrieve("openai/gpt-4o-mini")
    assert m.owned_by == "openai" and m.object == "model"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("nobody/nothing")


def test_chat_completion_not_streamed(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    raw = c.chat.completions.with_raw_response.create(
        model="demo/demo-1", messages=[{"role": "system", "content": "be brief"},
                                       {"role": "user", "content": "[demo:tokens=5] hi"}], temperature=0.2, n=1,
        user="end-user-1", metadata={"k": "v"})
    done = raw.parse()
    assert raw.headers["x-job-id"] == done.id
    assert done.choices[0].message.content == tokens(5)
    assert done.choices[0].finish_reason == "stop" and done.model == "demo/demo-1"
    assert done.usage.completion_tokens == 5 and done.usage.total_tokens > 5
    cut = c.chat.completions.create(model="demo-1", max_completion_tokens=3,
                                    messages=[{"role": "user", "content": "[demo:tokens=9] x"}])
    assert cut.choices[0].message.content == tokens(3) and cut.choices[0].finish_reason == "length"
    stopped = c.chat.completions.create(model="demo/demo-1", stop=["tok2"],
                                        messages=[{"role": "user", "content": "[demo:tokens=9] x"}])
    assert stopped.choices[0].message.content == "tok0 tok1 "


def test_chat_completion_on_a_vendor_through_the_fake_server(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    done = c.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    assert done.choices[0].message.content and done.model == "openai/gpt-4o-mini"


def test_chat_completion_streamed_with_usage(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    stream = c.chat.completions.create(model="demo/demo-1", stream=True, stream_options={"include_usage": True},
                                       messages=[{"role": "user", "content": "[demo:tokens=12] go"}])
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == tokens(12)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    assert all(ch.usage is None for ch in chunks[:-1])


def test_async_client_streams_and_completes(api, live_server):
    key = v1_user(api)["key"]

    async def run():
        ac = async_client(live_server, key)
        stream = await ac.chat.completions.create(model="demo/demo-1", stream=True,
                                                  messages=[{"role": "user", "content": "[demo:tokens=7] a"}])
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
        done = await ac.chat.completions.create(model="demo/demo-1",
                                                messages=[{"role": "user", "content": "[demo:tokens=4] b"}])
        await ac.close()
        return text, done.choices[0].message.content

    assert asyncio.run(run()) == (tokens(7), tokens(4))


def test_stream_cut_by_the_client_still_finishes_and_can_be_fetched(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    stream = c.chat.completions.create(model="demo/demo-1", stream=True,
                                       messages=[{"role": "user", "content": "[demo:tokens=300] long"}])
    job_id = stream.response.headers["x-job-id"]
    got = []
    for ch in stream:
        got.append(ch)
        if len(got) == 5:
            break
    stream.close()  # the client goes away mid-answer
    assert got[1].id == job_id
    early = c.chat.completions.retrieve(job_id)
    assert early.to_dict()["status"] in ("queued", "running")
    done = poll(lambda: c.chat.completions.retrieve(job_id), lambda x: x.to_dict()["status"] == "succeeded")
    assert done.choices[0].message.content == tokens(300) and done.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("params, param", [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, "messages[0].tool_call_id"),
])
def test_unsupported_parameters_are_a_400_naming_them(api, live_server, params, param):
    c = client(live_server, v1_user(api)["key"])
    body = {"model": "demo/demo-1", "messages": [{"role": "user", "content": "x"}], **params}
    with pytest.raises(openai.BadRequestError) as err:
        c.chat.completions.create(**body)
    assert err.value.param == param and param in err.value.message
    assert api.get("/api/jobs", headers={"Authorization": f"Bearer {c.api_key}"}).status_code == 401  # /api: JWT


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/batches"])
def test_a_body_must_be_an_object_of_known_parameters(api, path):
    headers = {"Authorization": f"Bearer {v1_user(api)['key']}"}
    r = api.post(path, json=[1], headers=headers)
    assert r.status_code == 400 and r.json()["error"]["message"] == "The request body must be a JSON object."
    r = api.post(path, json={"frobnicate": 1}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "frobnicate"


def test_error_classes_and_shapes(api, live_server):
    u = v1_user(api)
    c = client(live_server, u["key"])
    with pytest.raises(openai.BadRequestError) as err:
        c.chat.completions.create(model="demo/demo-1", messages=[])
    assert err.value.type == "invalid_request_error" and err.value.param == "messages"
    with pytest.raises(openai.NotFoundError) as err:
        c.chat.completions.create(model="demo/no-such-model", messages=[{"role": "user", "content": "x"}])
    assert err.value.param == "model"
    with pytest.raises(openai.BadRequestError) as err:  # the provider refused it: the job failed
        c.chat.completions.create(model="demo/demo-1", messages=[{"role": "user", "content": "[demo:fail]"}])
    assert err.value.code == "bad_request"
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.retrieve("job_doesnotexist")
    r = api.get("/v1/models")
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = api.get("/v1/nothing-here", headers={"Authorization": f"Bearer {u['key']}"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    assert api.get("/api/jobs/nothing", headers=u["headers"]).json()["error"].keys() >= {"code", "message"}


def test_another_users_completion_is_not_found(api, live_server):
    a = client(live_server, v1_user(api)["key"])
    b = client(live_server, v1_user(api)["key"])
    done = a.chat.completions.create(model="demo/demo-1", messages=[{"role": "user", "content": "[demo:tokens=2] x"}])
    assert a.chat.completions.retrieve(done.id).choices[0].message.content == tokens(2)
    with pytest.raises(openai.NotFoundError):
        b.chat.completions.retrieve(done.id)
