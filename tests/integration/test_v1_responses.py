"""The Responses API with the official OpenAI Python SDK: background, polling, streams resumed, cancel."""
from __future__ import annotations

import openai
import pytest

from tests.integration.v1_fixtures import client, poll, tokens, v1_user

pytestmark = pytest.mark.usefixtures("worker")
TERMINAL = ("completed", "failed", "cancelled", "incomplete")


def test_background_response_polled_to_completion(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    r = c.responses.create(model="demo/demo-1", input="[demo:tokens=6] hi", background=True,
                           instructions="be terse", metadata={"trace": "1"})
    assert r.status in ("queued", "in_progress") and r.background is True
    done = poll(lambda: c.responses.retrieve(r.id), lambda x: x.status in TERMINAL)
    assert done.status == "completed" and done.output_text == tokens(6)
    assert done.usage.output_tokens == 6 and done.metadata == {"trace": "1"} and done.instructions == "be terse"


def test_foreground_response_and_incomplete_and_conversation(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    first = c.responses.create(model="demo/demo-1", input=[{"role": "user", "content": "[demo:tokens=4] one"}])
    assert first.status == "completed" and first.output_text == tokens(4)
    cut = c.responses.create(model="demo/demo-1", input="[demo:tokens=50] x", max_output_tokens=5)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output_text == tokens(5)
    second = c.responses.create(model="demo/demo-1", previous_response_id=first.id,
                                input=[{"role": "user", "content": [{"type": "input_text", "text": "two more"}]}])
    # the demo counts input words: the earlier turn and its answer travel with the new input
    assert second.usage.input_tokens == 2 + 4 + 2
    with pytest.raises(openai.BadRequestError) as err:
        c.responses.create(model="demo/demo-1", input="x", tools=[{"type": "web_search"}])
    assert err.value.param == "tools"
    with pytest.raises(openai.NotFoundError):
        c.responses.create(model="demo/demo-1", input="x", previous_response_id="resp_nope")


def _collect(stream, stop_after: int | None = None) -> list:
    events = []
    for ev in stream:
        events.append(ev)
        if stop_after is not None and len(events) >= stop_after:
            break
    stream.close()
    return events


def test_streamed_response_events_are_gapless_and_in_openai_shapes(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    events = _collect(c.responses.create(model="demo/demo-1", input="[demo:tokens=5] s", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[2:4] == ["response.output_item.added", "response.content_part.added"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == tokens(5)
    assert events[-1].response.output_text == tokens(5)


def test_background_stream_resumed_with_starting_after(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    first = _collect(c.responses.create(model="demo/demo-1", input="[demo:tokens=120] r", stream=True,
                                        background=True), stop_after=8)
    rid = first[0].response.id
    last = first[-1].sequence_number
    rest = _collect(c.responses.retrieve(rid, stream=True, starting_after=last))
    assert rest[0].sequence_number == last + 1
    allev = first + rest
    assert [e.sequence_number for e in allev] == list(range(len(allev)))
    assert "".join(e.delta for e in allev if e.type == "response.output_text.delta") == tokens(120)
    assert allev[-1].type == "response.completed"
    again = _collect(c.responses.retrieve(rid, stream=True, starting_after=3))  # a replay numbers the same way
    assert [e.sequence_number for e in again] == list(range(4, len(allev)))
    assert [e.type for e in again] == [e.type for e in allev[4:]]


def test_cancel_and_delete(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    r = c.responses.create(model="demo/demo-1", input="[demo:tokens=5000] long", background=True)
    poll(lambda: c.responses.retrieve(r.id), lambda x: x.status == "in_progress", timeout=10)
    cancelled = c.responses.cancel(r.id)
    assert cancelled.status == "cancelled"
    assert c.responses.retrieve(r.id).status == "cancelled"
    fg = c.responses.create(model="demo/demo-1", input="[demo:tokens=2] x")
    with pytest.raises(openai.BadRequestError):
        c.responses.cancel(fg.id)  # only background responses can be cancelled
    c.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)


def test_another_users_response_is_not_found(api, live_server):
    a = client(live_server, v1_user(api)["key"])
    b = client(live_server, v1_user(api)["key"])
    r = a.responses.create(model="demo/demo-1", input="[demo:tokens=2] x", background=True)
    for call in (lambda: b.responses.retrieve(r.id), lambda: b.responses.cancel(r.id),
                 lambda: b.responses.delete(r.id),
                 lambda: b.responses.create(model="demo/demo-1", input="y", previous_response_id=r.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert poll(lambda: a.responses.retrieve(r.id), lambda x: x.status in TERMINAL).status == "completed"
