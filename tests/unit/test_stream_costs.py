"""The pieces that make a token cheap: raw SSE parsing grouped by read, group commit of event
writes, and the relay's use of the events a wake-up carries."""
from __future__ import annotations

import threading

import pytest

from providers.openai_provider import sse_data
from realtime.event_batcher import AppendBatcher
from realtime.job_events import JobEvent
from realtime.relay import Cursor, Waiter, _handed


def test_sse_payloads_are_grouped_by_the_read_that_completed_them():
    reads = [b'data: {"a":1}\n\ndata: {"b"', b':2}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n']
    assert list(sse_data(reads)) == [[b'{"a":1}'], [b'{"b":2}', b"[DONE]"]]
    assert list(sse_data([b"data: line1\ndata: line2\n\n"])) == [[b"line1\nline2"]]


def test_group_commit_sends_waiting_appends_together_and_answers_each():
    batches: list[int] = []
    gate = threading.Event()

    def write(calls):
        gate.wait(5)  # hold the first batch in flight so the others queue up behind it
        batches.append(len(calls))
        return [(int(args[0]), 0, "e") for _keys, args in calls]

    batcher = AppendBatcher(write, lambda reply, _job: (reply[0], bool(reply[1])))
    results: list[int] = []
    threads = [threading.Thread(target=lambda i=i: results.append(batcher.call([], [i, "t", "{}", 0, 0, "j"])[0]))
               for i in range(20)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert sorted(results) == list(range(20))
    assert sum(batches) == 20 and len(batches) < 20


def test_group_commit_hands_a_connection_error_to_every_caller():
    def write(_calls):
        raise ConnectionError("down")

    def result(reply, _job):
        if isinstance(reply, Exception):
            raise reply
        return reply

    batcher = AppendBatcher(write, result)
    with pytest.raises(ConnectionError):
        batcher.call([], [1, "t", "{}", 0, 0, "j"])


def _event(seq: int, epoch: str = "e1") -> JobEvent:
    return JobEvent(seq, "token", 1, {"text": "x"}, epoch=epoch)


def test_relay_uses_handed_events_that_follow_on_and_reads_the_stream_on_a_gap():
    waiter = Waiter()
    waiter.events.extend([_event(3), _event(4), _event(5)])
    assert [e.seq for e in _handed(waiter, Cursor(3, "e1"))] == [4, 5]  # 3 was replayed already
    assert _handed(waiter, Cursor(5, "e1")) == []  # nothing new: wait
    waiter.events.extend([_event(8)])
    assert _handed(waiter, Cursor(5, "e1")) is None  # 6 and 7 missing: read the Stream
    waiter.events.extend([_event(1, "e2")])
    assert _handed(waiter, Cursor(5, "e1")) is None  # another log: read it


def test_an_event_from_its_published_json_matches_the_one_read_back():
    wire = '{"jobId":"job_1","seq":7,"epoch":"ab12","type":"token","attempt":2,"text":"hi"}'
    event = JobEvent.from_wire(wire)
    assert event == JobEvent(7, "token", 2, {"text": "hi"}, epoch="ab12")
    assert event.wire_json("job_1") == wire
    assert JobEvent(7, "token", 2, {"text": "hi"}, epoch="ab12").wire_json("job_1") == wire
