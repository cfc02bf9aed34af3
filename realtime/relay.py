"""Follow a job's events for a client: replay from its last seq, then live, then stop at the end.

One Redis pub/sub subscription per web process (`JobNotifier`) wakes every local follower of a
job and hands it the event the wake-up carries (a wake-up carries the events of many jobs; each is
parsed once per process, its JSON reused for every socket). A follower reads the Stream only to
replay, or when what it was handed does not follow on from its cursor (a lost or dropped message,
another epoch): a lost wake-up costs at most one poll interval, never an event.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator

from realtime.job_events import JobEvent, JobEventLog, LogState, wake_records

log = logging.getLogger(__name__)
POLL_FALLBACK = 3.0  # seconds: re-read the stream even without a wake-up (a lost publish; a reconnect wakes all)
HANDED_MAX = 1000  # live events kept for a follower that has not looked yet; past it, it reads the Stream


class Waiter:
    """One follower's wake-up and the live events handed to it since it last looked."""

    __slots__ = ("event", "events")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.events: deque[JobEvent] = deque(maxlen=HANDED_MAX)

    def set(self) -> None:
        self.event.set()

    def clear(self) -> None:
        self.event.clear()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)


class JobNotifier:
    """The process's single subscriber; started on first use, restarted if its connection drops."""

    def __init__(self, event_log: JobEventLog) -> None:
        self.event_log = event_log
        self._waiters: dict[str, set[Waiter]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def register(self, job_id: str) -> Waiter:
        self._ensure_started()
        ev = Waiter()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(ev)
        return ev

    def unregister(self, job_id: str, ev: Waiter) -> None:
        with self._lock:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(ev)
                if not waiters:
                    del self._waiters[job_id]

    def _ensure_started(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="job-notifier", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                pubsub = self.event_log.store.r.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.event_log.notify_channel)
                for message in pubsub.listen():
                    self._wake(message["data"])
            except Exception as exc:  # connection lost: wake everyone (they re-read) and resubscribe
                log.warning("job notifier lost its subscription: %s", exc)
                self._wake_all()
                time.sleep(0.5)

    def _wake(self, message: str) -> None:
        records = wake_records(message)
        with self._lock:
            woken = [(wire, list(waiters)) for job_id, wire in records
                     if (waiters := self._waiters.get(job_id))]
        for wire, waiters in woken:
            event = JobEvent.from_wire(wire) if wire else None
            for ev in waiters:
                if event is not None:
                    ev.events.append(event)
                ev.set()

    def _wake_all(self) -> None:
        with self._lock:
            waiters = [ev for evs in self._waiters.values() for ev in evs]
        for ev in waiters:
            ev.set()


@dataclass(frozen=True)
class Cursor:
    """Where a client is in a job's log: the log's epoch (None if the client does not know it) and
    the last seq it saw."""

    seq: int = 0
    epoch: str | None = None


def _reset(state: LogState) -> JobEvent:
    """Tells the client to drop what it has: the events that follow are the whole log anew."""
    return JobEvent(0, "reset", 0, {"reason": "the event log was reset; what follows replaces it"},
                    epoch=state.epoch or "")


def _cursor_invalid(cursor: Cursor, state: LogState) -> bool:
    if state.epoch is None:
        return False  # no log (yet, or any more): wait for one
    if cursor.epoch is not None:
        return cursor.epoch != state.epoch
    return cursor.seq > state.last_seq  # a client without an epoch: its cursor is past this log's end


def follow(event_log: JobEventLog, notifier: JobNotifier, job_id: str, cursor: Cursor,
           idle_timeout: float | None = None,
           finished: Callable[[int], JobEvent | None] | None = None) -> Iterator[JobEvent | None]:
    """Yield every event after the cursor, live, until a terminal one; `reset` first when the cursor
    belongs to a log that no longer exists (it then replays the current log from its start).

    Yields None when nothing arrived for `idle_timeout` seconds, so callers can send keep-alives
    or notice the client went away. When idle, `finished(next_seq)` may supply the terminal event
    from the job row: the log can miss it if Redis was unreachable at the very end of the job.
    """
    wake = notifier.register(job_id)
    try:
        idle_since = time.monotonic()
        must_read = True  # the Stream first (the replay), and after any wake-up that carried nothing
        while True:
            wake.clear()  # clear before reading: a notification after this read is not lost
            handed = None if must_read else _handed(wake, cursor)
            must_read = False
            if handed is None:
                state = event_log.read_after(job_id, cursor.seq)
                if _cursor_invalid(cursor, state):
                    yield _reset(state)
                    cursor, must_read = Cursor(0, state.epoch), True
                    continue
                if state.epoch is not None and cursor.epoch is None:
                    cursor = Cursor(cursor.seq, state.epoch)
                handed = state.events
            for event in handed:
                cursor = Cursor(event.seq, cursor.epoch)
                yield event
                if event.terminal:
                    return
            if handed:
                idle_since = time.monotonic()
                continue
            if not wake.wait(POLL_FALLBACK) or not wake.events:
                must_read = True
            if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                idle_since = time.monotonic()
                final = finished(cursor.seq + 1) if finished is not None else None
                if final is not None and not event_log.read_after(job_id, cursor.seq).events:
                    yield final
                    return
                yield None
    finally:
        notifier.unregister(job_id, wake)


def _handed(wake: Waiter, cursor: Cursor) -> list[JobEvent] | None:
    """The live events handed to this follower that follow on from its cursor without a gap, or None
    when it must read the Stream: nothing handed yet that is new, a gap, or another epoch."""
    events = wake.events
    while events and events[0].epoch == cursor.epoch and events[0].seq <= cursor.seq:
        events.popleft()  # already replayed from the Stream
    if not events:
        return []
    if events[0].epoch != cursor.epoch or events[0].seq != cursor.seq + 1:
        events.clear()
        return None
    taken = list(events)
    events.clear()
    for before, after in zip(taken, taken[1:]):
        if after.seq != before.seq + 1 or after.epoch != before.epoch:
            return None
    return taken
