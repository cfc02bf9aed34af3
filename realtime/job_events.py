"""Per-job event log: a capped, expiring Redis Stream plus a pub/sub wake-up.

Pub/sub alone is at-most-once, so the Stream is the record: a client that connects late or
reconnects replays from the last `seq` it saw. Stream ids are `0-<seq>`, so `seq` is both the
client's cursor and Redis's own ordering. Writes go through one Lua script that also fences
attempts (a stale attempt of a redelivered task cannot write) and reports a cancel request,
all in one round trip per event.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from realtime.redis_store import RedisStore

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
NOTIFY_CHANNEL = "jobs:notify"

# KEYS: stream, seq counter, fence (current attempt), cancel flag, notify channel
# ARGV: attempt, type, data, maxlen, ttl, job id
_APPEND = """
local fence = redis.call('GET', KEYS[3])
if fence and tonumber(fence) > tonumber(ARGV[1]) then return {-1, 0} end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '0-' .. seq, 't', ARGV[2], 'd', ARGV[3], 'a', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', KEYS[5], ARGV[6])
local cancel = redis.call('EXISTS', KEYS[4])
return {seq, cancel}
"""

# KEYS: fence. ARGV: attempt, ttl. Raises the fence to this attempt unless a newer one holds it.
_CLAIM = """
local fence = redis.call('GET', KEYS[1])
if fence and tonumber(fence) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class StaleAttempt(Exception):
    """A newer attempt of the same job owns the event log; this one must stop writing."""


@dataclass(frozen=True)
class JobEvent:
    seq: int
    type: str
    attempt: int
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS

    def to_wire(self, job_id: str) -> dict[str, Any]:
        return {"jobId": job_id, "seq": self.seq, "type": self.type, "attempt": self.attempt, **self.data}


class JobEventLog:
    def __init__(self, store: RedisStore, max_len: int, ttl: int) -> None:
        self.store = store
        self.max_len = max_len
        self.ttl = ttl
        self._append = store.r.register_script(_APPEND)
        self._claim = store.r.register_script(_CLAIM)

    def _keys(self, job_id: str) -> list[str]:
        k = self.store.key
        return [k("job", job_id, "events"), k("job", job_id, "seq"), k("job", job_id, "fence"),
                k("job", job_id, "cancel"), k(NOTIFY_CHANNEL)]

    def claim(self, job_id: str, attempt: int) -> bool:
        return bool(self._claim(keys=[self._keys(job_id)[2]], args=[attempt, self.ttl]))

    def append(self, job_id: str, attempt: int, type_: str, data: dict[str, Any] | None = None) -> tuple[int, bool]:
        """Append one event; returns (seq, cancel_requested). Raises StaleAttempt if fenced out."""
        seq, cancel = self._append(
            keys=self._keys(job_id),
            args=[attempt, type_, json.dumps(data or {}, separators=(",", ":")), self.max_len, self.ttl, job_id],
        )
        if seq < 0:
            raise StaleAttempt(job_id)
        return int(seq), bool(cancel)

    def read_after(self, job_id: str, after: int, count: int = 1000) -> list[JobEvent]:
        entries = self.store.r.xrange(self._keys(job_id)[0], min=f"(0-{after}", max="+", count=count)
        return [
            JobEvent(seq=int(eid.split("-")[1]), type=f["t"], attempt=int(f["a"]), data=json.loads(f["d"]))
            for eid, f in entries
        ]

    def request_cancel(self, job_id: str) -> None:
        self.store.r.set(self.cancel_key(job_id), "1", ex=self.ttl)

    def cancel_key(self, job_id: str) -> str:
        return self.store.key("job", job_id, "cancel")

    def lease_key(self, job_id: str) -> str:
        """Held by the attempt running the job; lapses when its worker dies."""
        return self.store.key("job", job_id, "lease")

    @property
    def notify_channel(self) -> str:
        return self.store.key(NOTIFY_CHANNEL)


__all__ = ["JobEvent", "JobEventLog", "StaleAttempt", "TERMINAL_EVENTS"]
