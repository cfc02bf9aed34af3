"""Follow a job's events for a client: replay from its last seq, then live, then stop at the end.

One Redis pub/sub subscription per web process (`JobNotifier`) wakes every local follower of a
job; followers then read the Stream themselves, so a lost wake-up costs at most one poll
interval, never an event.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from realtime.job_events import JobEvent, JobEventLog, LogState

log = logging.getLogger(__name__)
POLL_FALLBACK = 1.0  # seconds: re-read the stream even without a wake-up (pub/sub is best effort)


class JobNotifier:
    """The process's single subscriber; started on first use, restarted if its connection drops."""

    def __init__(self, event_log: JobEventLog) -> None:
        self.event_log = event_log
        self._waiters: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def register(self, job_id: str) -> threading.Event:
        self._ensure_started()
        ev = threading.Event()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(ev)
        return ev

    def unregister(self, job_id: str, ev: threading.Event) -> None:
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

    def _wake(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for ev in waiters:
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
        while True:
            wake.clear()  # clear before reading: a notification after this read is not lost
            state = event_log.read_after(job_id, cursor.seq)
            if _cursor_invalid(cursor, state):
                yield _reset(state)
                cursor = Cursor(0, state.epoch)
                continue
            if state.epoch is not None and cursor.epoch is None:
                cursor = Cursor(cursor.seq, state.epoch)
            for event in state.events:
                cursor = Cursor(event.seq, cursor.epoch)
                yield event
                if event.terminal:
                    return
            if state.events:
                idle_since = time.monotonic()
                continue
            wake.wait(POLL_FALLBACK)
            if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                idle_since = time.monotonic()
                final = finished(cursor.seq + 1) if finished is not None else None
                if final is not None and not event_log.read_after(job_id, cursor.seq).events:
                    yield final
                    return
                yield None
    finally:
        notifier.unregister(job_id, wake)
