"""The event an append publishes (the relay hands it to sockets as is) is the event the Stream
holds, through the real Redis script; concurrent writers share round trips and keep seq gapless."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
from redis.exceptions import ResponseError

from realtime.job_events import JobEvent, JobEventLog, wake_records
from realtime.redis_store import RedisStore


def _log(settings) -> JobEventLog:
    return JobEventLog(RedisStore().init(settings), 1000, 60)


def test_published_event_equals_the_stored_one(settings):
    log = _log(settings)
    job = f"job_{uuid.uuid4().hex}"
    pubsub = log.store.r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(log.notify_channel)
    log.append(job, 1, "started", {"restarted": False, "provider": "demo", "model": "m"})
    log.append(job, 1, "token", {"text": "h\u00e9 \"quoted\"\n"})
    log.append(job, 1, "completed", {})
    published = []
    deadline = time.monotonic() + 10
    while len(published) < 3:
        assert time.monotonic() < deadline, f"only {len(published)} publishes"
        message = pubsub.get_message(timeout=1)  # None for the subscribe confirmation too
        if message is None:
            continue
        published += [JobEvent.from_wire(wire) for job_id, wire in wake_records(message["data"]) if job_id == job]
    pubsub.close()
    stored = log.read_after(job, 0).events
    assert published == stored
    assert [e.wire_json(job) for e in published] == [e.wire_json(job) for e in stored]


def test_concurrent_writers_keep_every_log_gapless_and_share_wake_ups(settings):
    log = _log(settings)
    jobs = [f"job_{uuid.uuid4().hex}" for _ in range(30)]
    pubsub = log.store.r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(log.notify_channel)
    pubsub.get_message(timeout=1)  # reads the subscription's confirmation: live from here on

    def write(job: str) -> None:
        for i in range(40):
            log.append(job, 1, "token", {"text": f"t{i} "}, number=i + 1)

    threads = [threading.Thread(target=write, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for job in jobs:
        events = log.read_after(job, 0).events
        assert [e.seq for e in events] == list(range(1, 41))
        assert "".join(e.data["text"] for e in events) == "".join(f"t{i} " for i in range(40))
    # Every event was published exactly once, in order per job, and wake-ups carried several.
    wake_ups, woken = 0, {job: [] for job in jobs}
    deadline = time.monotonic() + 10
    while sum(map(len, woken.values())) < 30 * 40 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
        ours = [(job_id, wire) for job_id, wire in wake_records(message["data"]) if job_id in woken] if message else []
        wake_ups += bool(ours)  # other tests' jobs may publish on the run's channel too
        for job_id, wire in ours:
            woken[job_id].append(JobEvent.from_wire(wire).seq)
    pubsub.close()
    assert all(seqs == list(range(1, 41)) for seqs in woken.values())
    assert wake_ups < 30 * 40


def test_one_jobs_broken_key_fails_its_own_event_and_not_the_rest_of_the_batch(settings):
    log = _log(settings)
    broken, fine = f"job_{uuid.uuid4().hex}", f"job_{uuid.uuid4().hex}"
    log.store.r.hset(log.store.key("job", broken, "seq"), "x", "1")  # INCR on it fails inside the script
    replies = log._write_batch([[broken, 1, "token", '{"text":"a"}', "e1", "0", 1],
                                [fine, 1, "token", '{"text":"b"}', "e2", "0", 1]])
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        log._result(replies[0], broken)
    assert log._result(replies[1], fine) == (1, False)
    assert [e.data for e in log.read_after(fine, 0).events] == [{"text": "b"}]
