"""Files and batches with the official OpenAI Python SDK: JSONL in, output and error files out."""
from __future__ import annotations

import io
import json

import openai
import pytest

from tests.integration.v1_fixtures import client, poll, tokens, v1_user

pytestmark = pytest.mark.usefixtures("worker")


def _jsonl(*contents: str, **body_extra) -> bytes:
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "demo/demo-1", "messages": [{"role": "user", "content": text}], **body_extra}}
             for i, text in enumerate(contents)]
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode()


def test_files_batches_output_file_round_trip(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    data = _jsonl("[demo:tokens=3] a", "[demo:fail]", "[demo:tokens=5] c")
    f = c.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    assert f.bytes == len(data) and f.purpose == "batch" and f.filename == "in.jsonl"
    assert c.files.retrieve(f.id).id == f.id
    assert c.files.content(f.id).content == data
    assert f.id in [x.id for x in c.files.list().data]
    b = c.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                         metadata={"run": "7"})
    assert b.status == "in_progress" and b.request_counts.total == 3 and b.metadata == {"run": "7"}
    done = poll(lambda: c.batches.retrieve(b.id), lambda x: x.status == "completed")
    assert done.status == "completed"
    assert (done.request_counts.completed, done.request_counts.failed) == (2, 1)
    out = [json.loads(line) for line in c.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["r0", "r2"]
    assert out[1]["response"]["status_code"] == 200
    assert out[1]["response"]["body"]["choices"][0]["message"]["content"] == tokens(5)
    assert out[1]["error"] is None
    errors = [json.loads(line) for line in c.files.content(done.error_file_id).text.splitlines()]
    assert [(e["custom_id"], e["response"], e["error"]["code"]) for e in errors] == [("r1", None, "bad_request")]
    assert c.batches.retrieve(b.id).output_file_id == done.output_file_id  # written once
    assert b.id in [x.id for x in c.batches.list().data]
    c.files.delete(f.id)
    with pytest.raises(openai.NotFoundError):
        c.files.retrieve(f.id)


def test_batch_cancel(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    f = c.files.create(file=("in.jsonl", io.BytesIO(_jsonl(*["[demo:tokens=3000] x"] * 4))), purpose="batch")
    b = c.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert c.batches.cancel(b.id).status in ("cancelling", "cancelled")
    done = poll(lambda: c.batches.retrieve(b.id), lambda x: x.status == "cancelled")
    assert done.status == "cancelled" and done.request_counts.total == 4
    errors = c.files.content(done.error_file_id).text.splitlines()
    assert len(errors) + done.request_counts.completed == 4


def test_bad_batch_input_is_refused_and_changes_nothing(api, live_server):
    c = client(live_server, v1_user(api)["key"])
    with pytest.raises(openai.BadRequestError) as err:
        c.files.create(file=("x.txt", io.BytesIO(b"not json\n")), purpose="batch")
    assert "line 1" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        c.files.create(file=("x.jsonl", io.BytesIO(_jsonl("a"))), purpose="fine-tune")
    assert err.value.param == "purpose"
    f = c.files.create(file=("t.jsonl", io.BytesIO(_jsonl("a", "b", tools=[{"type": "function"}]))),
                       purpose="batch")
    with pytest.raises(openai.BadRequestError) as err:
        c.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert "line 1" in err.value.message and "tools" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        c.batches.create(input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h")
    assert err.value.param == "endpoint"
    assert c.batches.list().data == []


def test_another_users_files_and_batches_are_not_found(api, live_server):
    a = client(live_server, v1_user(api)["key"])
    b = client(live_server, v1_user(api)["key"])
    f = a.files.create(file=("in.jsonl", io.BytesIO(_jsonl("[demo:tokens=2] a"))), purpose="batch")
    batch = a.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    for call in (lambda: b.files.retrieve(f.id), lambda: b.files.content(f.id), lambda: b.files.delete(f.id),
                 lambda: b.batches.retrieve(batch.id), lambda: b.batches.cancel(batch.id),
                 lambda: b.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")):
        with pytest.raises(openai.NotFoundError):
            call()
    assert b.files.list().data == [] and b.batches.list().data == []
