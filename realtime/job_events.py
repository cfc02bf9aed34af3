"""Per-job event log: a capped, expiring Redis Stream plus a pub/sub wake-up.

Pub/sub alone is at-most-once, so the Stream is the record: a client that connects late or
reconnects replays from the last `seq` it saw. Stream ids are `0-<seq>`, so `seq` is both the
client's cursor and Redis's own ordering. Writes go through one Lua script that also fences
attempts (a stale attempt of a redelivered task cannot write) and reports a cancel request,
all in one round trip per event.

A log has an identity, its `epoch`, made when its first event is written and carried by every
event. A Redis that restarts without its data loses the log; the next write starts a new one,
with a new epoch and seq from 1. A resume cursor is (epoch, seq): a cursor from another epoch
cannot silently skip events of the new log, the relay sends `reset` and replays it whole. A
writer that has written before asks the script to refuse (`LogLost`) rather than recreate the
log, so it can first write what the lost log held (see `services/completion.py`).
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.exceptions import NoScriptError

from realtime.event_batcher import AppendBatcher
from realtime.redis_store import RedisStore

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
NOTIFY_CHANNEL = "jobs:notify"

# KEYS: stream, seq counter, fence (current attempt), cancel flag, notify channel, epoch, writer mark
# ARGV: attempt, type, data, maxlen, ttl, job id, epoch for a new log, '1' = the log must exist,
#       the writer's own number for this event ('' = none): a retried write whose first try went
#       through (its reply lost with the connection) is not written twice
_APPEND = """
local fence = redis.call('GET', KEYS[3])
if fence and tonumber(fence) > tonumber(ARGV[1]) then return {-1, 0, ''} end
if ARGV[8] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then return {-2, 0, ''} end
local mark = ARGV[1] .. ':' .. ARGV[9]
if ARGV[9] ~= '' and redis.call('GET', KEYS[7]) == mark then
  return {0, redis.call('EXISTS', KEYS[4]), ''}
end
if ARGV[9] ~= '' then redis.call('SET', KEYS[7], mark, 'EX', ARGV[5]) end
local epoch = redis.call('GET', KEYS[6])
if not epoch then epoch = ARGV[7] end
redis.call('SET', KEYS[6], epoch, 'EX', ARGV[5])
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '0-' .. seq, 't', ARGV[2], 'd', ARGV[3], 'a', ARGV[1],
           'e', epoch)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local wire = '{"jobId":"' .. ARGV[6] .. '","seq":' .. seq .. ',"epoch":"' .. epoch .. '","type":"' .. ARGV[2]
  .. '","attempt":' .. ARGV[1]
if ARGV[3] == '{}' then wire = wire .. '}' else wire = wire .. ',' .. string.sub(ARGV[3], 2) end
redis.call('PUBLISH', KEYS[5], ARGV[6] .. '\\n' .. wire)
local cancel = redis.call('EXISTS', KEYS[4])
return {seq, cancel, epoch}
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


class LogLost(Exception):
    """The log this writer wrote to is gone (Redis restarted without its data); nothing was written."""


@dataclass(frozen=True)
class JobEvent:
    seq: int
    type: str
    attempt: int
    data: dict[str, Any]
    epoch: str = ""
    wire: str = field(default="", compare=False, repr=False)  # its JSON as published, when it came live

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS

    def wire_json(self, job_id: str) -> str:
        """The event as clients get it, encoded once per process rather than once per socket."""
        return self.wire or json.dumps(self.to_wire(job_id), separators=(",", ":"))

    @classmethod
    def from_wire(cls, wire: str) -> "JobEvent":
        """An event from the JSON its write published (see `_APPEND`)."""
        d = orjson.loads(wire)
        return cls(seq=d.pop("seq"), type=d.pop("type"), attempt=d.pop("attempt"), epoch=d.pop("epoch"),
                   data={k: v for k, v in d.items() if k != "jobId"}, wire=wire)

    def to_wire(self, job_id: str) -> dict[str, Any]:
        return {"jobId": job_id, "seq": self.seq, "epoch": self.epoch, "type": self.type, "attempt": self.attempt,
                **self.data}


@dataclass(frozen=True)
class LogState:
    """What one read saw: the log's epoch and last seq (None, 0 when there is no log), and the events."""

    epoch: str | None
    last_seq: int
    events: list[JobEvent]


class JobEventLog:
    def __init__(self, store: RedisStore, max_len: int, ttl: int, linger: float = 0.0) -> None:
        self.store = store
        self.max_len = max_len
        self.ttl = ttl
        self._append = store.r.register_script(_APPEND)
        self._claim = store.r.register_script(_CLAIM)
        self._batcher = AppendBatcher(self._write_batch, self._result, linger)

    def _keys(self, job_id: str) -> list[str]:
        k = self.store.key
        return [k("job", job_id, "events"), k("job", job_id, "seq"), k("job", job_id, "fence"),
                k("job", job_id, "cancel"), k(NOTIFY_CHANNEL), k("job", job_id, "epoch"), k("job", job_id, "mark")]

    def claim(self, job_id: str, attempt: int) -> bool:
        return bool(self._claim(keys=[self._keys(job_id)[2]], args=[attempt, self.ttl]))

    def append(self, job_id: str, attempt: int, type_: str, data: dict[str, Any] | None = None, *,
               continuing: bool = False, number: int | None = None) -> tuple[int, bool]:
        """Append one event; returns (seq, cancel_requested), seq 0 when event `number` of this
        attempt was already written. Raises StaleAttempt if fenced out, and LogLost when
        `continuing` (the writer wrote to this log before) but the log is gone.

        The writes of every job of the process share round trips (`AppendBatcher`)."""
        args = [attempt, type_, json.dumps(data or {}, separators=(",", ":")), self.max_len, self.ttl, job_id,
                secrets.token_hex(6), "1" if continuing else "0", "" if number is None else number]
        return self._batcher.call(self._keys(job_id), args)

    def _write_batch(self, calls: list[tuple[list[str], list]]) -> list[Any]:
        """One pipeline for many appends: one send and one read for all of them (EVALSHA; the script
        is loaded again only when Redis lost it, then the refused calls are sent once more)."""
        replies = self._evalsha_all(calls)
        again = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if again:
            self.store.r.script_load(_APPEND)
            for i, reply in zip(again, self._evalsha_all([calls[i] for i in again])):
                replies[i] = reply
        return replies

    def _evalsha_all(self, calls: list[tuple[list[str], list]]) -> list[Any]:
        with self.store.r.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._append.sha, len(keys), *keys, *args)
            return pipe.execute(raise_on_error=False)

    @staticmethod
    def _result(reply: Any, job_id: str) -> tuple[int, bool]:
        if isinstance(reply, Exception):
            raise reply
        seq, cancel, _epoch = reply
        if seq == -1:
            raise StaleAttempt(job_id)
        if seq == -2:
            raise LogLost(job_id)
        return int(seq), bool(cancel)

    def read_after(self, job_id: str, after: int, count: int = 1000) -> LogState:
        keys = self._keys(job_id)
        with self.store.r.pipeline(transaction=False) as pipe:
            pipe.get(keys[5])
            pipe.get(keys[1])
            pipe.xrange(keys[0], min=f"(0-{after}", max="+", count=count)
            epoch, last_seq, entries = pipe.execute()
        events = [JobEvent(seq=int(eid.split("-")[1]), type=f["t"], attempt=int(f["a"]), data=json.loads(f["d"]),
                           epoch=f.get("e", epoch or "")) for eid, f in entries]
        return LogState(epoch, int(last_seq or 0), events)

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


__all__ = ["JobEvent", "JobEventLog", "LogLost", "LogState", "StaleAttempt", "TERMINAL_EVENTS"]
