"""Group commit for event writes: the appends of every job of a process share Redis round trips.

A job's `append` waits for its own reply, as before, but the writer sends whatever appends are
waiting as one batch (one round trip), and the appends that arrive while that batch is in flight
go in the next one. One job at a time pays a round trip as before; hundreds pay one round trip
per batch instead of one each (one send and one read instead of hundreds of system calls). Order within a
job is kept: a job has at most one append in flight, and a batch is sent in arrival order.

When appends arrive closer together than `linger` seconds (many streams at once), the writer
waits that long before taking a batch, so more of them share it: a few milliseconds of token
delay under load for fewer round trips. Appends that arrive further apart (a few streams) are
sent at once, as before.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

Write = Callable[[list[list]], list[Any]]
Result = Callable[[Any, str], tuple[int, bool]]


class _Call:
    __slots__ = ("args", "done", "reply")

    def __init__(self, args: list) -> None:
        self.args = args
        self.done = threading.Event()
        self.reply: Any = None


class AppendBatcher:
    def __init__(self, write: Write, result: Result, linger: float = 0.0) -> None:
        self._write = write
        self._result = result
        self._linger = linger
        self._gap = 1.0  # moving average of the seconds between two appends (capped at 1: "rare")
        self._last = time.monotonic()
        self._pending: list[_Call] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def call(self, job_id: str, args: list) -> tuple[int, bool]:
        """Queue one append of `job_id` and wait for its reply."""
        call = _Call(args)
        now = time.monotonic()
        self._gap = 0.9 * self._gap + 0.1 * min(now - self._last, 1.0)
        self._last = now
        with self._lock:
            self._pending.append(call)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()
        self._ready.set()
        call.done.wait()
        return self._result(call.reply, job_id)

    def _run(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()
            if self._gap < self._linger:
                time.sleep(self._linger)
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:
                self._send(batch)

    def _send(self, batch: list[_Call]) -> None:
        try:
            replies = self._write([c.args for c in batch])
        except Exception as exc:  # the connection failed: every caller sees the error, as a lone call would
            replies = [exc] * len(batch)
        for call, reply in zip(batch, replies):
            call.reply = reply
            call.done.set()
