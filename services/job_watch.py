"""One watchdog per worker process for every job it runs: renews their leases and reads their
cancel flags in one pipelined round trip per tick, instead of a thread and a connection per job.

A job whose cancel flag appears gets its `CancelToken` set; the adapter streaming it sees the
token between chunks, and the token closes its HTTP stream to cut a wait on a silent vendor.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from providers.base import CancelToken
from realtime.job_events import JobEventLog
from realtime.redis_store import RedisStore

log = logging.getLogger(__name__)
TICK = 0.25  # seconds: how soon a cancel lands


@dataclass
class _Watched:
    attempt: int
    token: CancelToken = field(default_factory=CancelToken)


class JobWatch:
    def __init__(self, store: RedisStore, events: JobEventLog, lease_seconds: int) -> None:
        self.store = store
        self.events = events
        self.lease_seconds = lease_seconds
        self._jobs: dict[str, _Watched] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_renew = 0.0

    def watch(self, job_id: str, attempt: int, token: CancelToken | None = None) -> CancelToken:
        """Start watching a claimed attempt; returns the token its stream checks (`token` when the
        stream was opened with one already)."""
        watched = _Watched(attempt) if token is None else _Watched(attempt, token)
        with self._lock:
            self._jobs[job_id] = watched
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-watch", daemon=True)
                self._thread.start()
        return watched.token

    def unwatch(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def _run(self) -> None:
        while True:
            time.sleep(TICK)
            try:
                self.tick()
            except Exception as exc:  # Redis hiccup: leases have slack, try again next tick
                log.warning("job watch: %s", exc)

    def tick(self) -> None:
        with self._lock:
            jobs = list(self._jobs.items())
        if not jobs:
            return
        renew = time.monotonic() >= self._next_renew
        with self.store.r.pipeline(transaction=False) as pipe:
            for job_id, watched in jobs:
                pipe.exists(self.events.cancel_key(job_id))
                if renew:
                    pipe.set(self.events.lease_key(job_id), watched.attempt, ex=self.lease_seconds)
            replies = pipe.execute()
        if renew:
            self._next_renew = time.monotonic() + max(0.5, self.lease_seconds / 3)
        step = 2 if renew else 1
        for i, (_job_id, watched) in enumerate(jobs):
            if replies[i * step]:
                watched.token.cancel()
