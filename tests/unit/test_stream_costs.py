"""The pieces that make a token cheap: raw SSE parsing grouped by read, group commit of event
writes, and the relay's use of the events a wake-up carries."""
from __future__ import annotations

import threading
import time

import pytest

from providers.openai_provider import sse_data
from realtime.event_batcher import AppendBatcher
from realtime.job_events import JobEvent, wake_records
from realtime.relay import Cursor, JobNotifier, Waiter, _handed


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
        return [(int(args[1]), 0, "e") for args in calls]

    batcher = AppendBatcher(write, lambda reply, _job: (reply[0], bool(reply[1])))
    results: list[int] = []
    threads = [threading.Thread(target=lambda i=i: results.append(batcher.call("j", ["j", i, "t", "{}"])[0]))
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
        batcher.call("j", ["j", 1, "t", "{}"])


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


def _count_batches(linger: float, callers: int, per_caller: int, pause: float) -> tuple[list[int], float]:
    """Appends from `callers` threads, each `per_caller` times `pause` apart: batch sizes and the
    slowest single call."""
    batches: list[int] = []
    batcher = AppendBatcher(lambda calls: batches.append(len(calls)) or [(1, 0, "e")] * len(calls),
                            lambda reply, _job: (reply[0], bool(reply[1])), linger=linger)
    slowest = [0.0]

    def caller(n: int) -> None:
        for _ in range(per_caller):
            t = time.monotonic()
            batcher.call("j", ["j", n, "t", "{}"])
            slowest[0] = max(slowest[0], time.monotonic() - t)
            time.sleep(pause)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return batches, slowest[0]


def test_under_load_appends_linger_to_share_round_trips_and_alone_they_do_not():
    busy, _ = _count_batches(0.005, callers=40, per_caller=40, pause=0.002)
    assert sum(busy) == 1600 and len(busy) < 1600 / 4  # many appends per round trip
    eager, _ = _count_batches(0.0, callers=40, per_caller=40, pause=0.002)
    assert sum(eager) == 1600 and len(eager) > len(busy)
    alone, slowest = _count_batches(0.5, callers=1, per_caller=5, pause=0.05)
    assert alone == [1] * 5 and slowest < 0.25  # appends 50 ms apart never wait the 500 ms linger


def test_one_wake_up_hands_each_local_follower_its_own_job_events():
    notifier = JobNotifier(event_log=None)  # type: ignore[arg-type]  # _wake needs no Redis
    mine, also_mine = notifier._waiters.setdefault("job_a", set()), notifier._waiters.setdefault("job_b", set())
    a, b = Waiter(), Waiter()
    mine.add(a)
    also_mine.add(b)
    wire = '{{"jobId":"{0}","seq":{1},"epoch":"e1","type":"token","attempt":1,"text":"x"}}'
    notifier._wake("\n".join(["job_a", wire.format("job_a", 4), "job_elsewhere", wire.format("job_elsewhere", 9),
                              "job_b", wire.format("job_b", 1), "job_b", ""]))
    assert [e.seq for e in a.events] == [4] and a.event.is_set()
    assert [e.seq for e in b.events] == [1] and b.event.is_set()  # a record without JSON only wakes
    assert wake_records("job_a") == [("job_a", "")]
