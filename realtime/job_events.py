"""Per-job event log: a capped, expiring Redis Stream plus a pub/sub wake-up.

Pub/sub alone is at-most-once, so the Stream is the record: a client that connects late or
reconnects replays from the last `seq` it saw. Stream ids are `0-<seq>`, so `seq` is both the
client's cursor and Redis's own ordering. Writes go through one Lua script that also fences
attempts (a stale attempt of a redelivered task cannot write) and reports a cancel request;
the events of all jobs of a process that wait to be written share one call and one wake-up.

A log has an identity, its `epoch`, made when its first event is written and carried by every
event. A Redis that restarts without its data loses the log; the next write starts a new one,
with a new epoch and seq from 1. A resume cursor is (epoch, seq): a cursor from another epoch
cannot silently skip events of the new log, the relay sends `reset` and replays it whole. A
writer that has written before asks the script to refuse (`LogLost`) rather than recreate the
log, so it can first write what the lost log held (see `services/completion.py`).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.exceptions import NoScriptError

from realtime.event_batcher import AppendBatcher
from realtime.redis_store import RedisStore

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
NOTIFY_CHANNEL = "jobs:notify"

# One call writes a batch of events (of different jobs: a job has one append in flight at most).
# Per event, 6 KEYS: stream, seq counter, fence (current attempt), cancel flag, epoch, writer mark;
# then the notify channel, last. Per event, 9 ARGV: attempt, type, data, maxlen, ttl, job id, epoch
# for a new log, '1' = the log must exist, the writer's own number for this event ('' = none): a
# retried write whose first try went through (its reply lost with the connection) is not written
# twice. Returns {seq, cancel, epoch} per event (seq -1: fenced out, -2: the log is gone, 0: a
# repeat). The events written go out as one wake-up: `job id \n wire` records joined by \n.
_APPEND = """
local out, wires = {}, {}
for i = 0, #ARGV / 9 - 1 do
  local a, k = i * 9, i * 6
  local fence = redis.call('GET', KEYS[k + 3])
  local mark = ARGV[a + 1] .. ':' .. ARGV[a + 9]
  if fence and tonumber(fence) > tonumber(ARGV[a + 1]) then
    out[i + 1] = {-1, 0, ''}
  elseif ARGV[a + 8] == '1' and redis.call('EXISTS', KEYS[k + 2]) == 0 then
    out[i + 1] = {-2, 0, ''}
  elseif ARGV[a + 9] ~= '' and redis.call('GET', KEYS[k + 6]) == mark then
    out[i + 1] = {0, redis.call('EXISTS', KEYS[k + 4]), ''}
  else
    if ARGV[a + 9] ~= '' then redis.call('SET', KEYS[k + 6], mark, 'EX', ARGV[a + 5]) end
    local epoch = redis.call('GET', KEYS[k + 5]) or ARGV[a + 7]
    redis.call('SET', KEYS[k + 5], epoch, 'EX', ARGV[a + 5])
    local seq = redis.call('INCR', KEYS[k + 2])
    redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', ARGV[a + 4], '0-' .. seq, 't', ARGV[a + 2], 'd', ARGV[a + 3],
               'a', ARGV[a + 1], 'e', epoch)
    redis.call('EXPIRE', KEYS[k + 1], ARGV[a + 5])
    redis.call('EXPIRE', KEYS[k + 2], ARGV[a + 5])
    local wire = '{"jobId":"' .. ARGV[a + 6] .. '","seq":' .. seq .. ',"epoch":"' .. epoch .. '","type":"'
      .. ARGV[a + 2] .. '","attempt":' .. ARGV[a + 1]
    if ARGV[a + 3] == '{}' then wire = wire .. '}' else wire = wire .. ',' .. string.sub(ARGV[a + 3], 2) end
    wires[#wires + 1] = ARGV[a + 6] .. '\\n' .. wire
    out[i + 1] = {seq, redis.call('EXISTS', KEYS[k + 4]), epoch}
  end
end
if #wires > 0 then redis.call('PUBLISH', KEYS[#KEYS], table.concat(wires, '\\n')) end
return out
"""
BATCH_MAX = 200  # events per script call: a longer batch is split, so one call never holds Redis for long

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
        return self.wire or orjson.dumps(self.to_wire(job_id)).decode()

    @classmethod
    def from_wire(cls, wire: str) -> "JobEvent":
        """An event from the JSON its write published (see `_APPEND`)."""
        d = orjson.loads(wire)
        return cls(seq=d.pop("seq"), type=d.pop("type"), attempt=d.pop("attempt"), epoch=d.pop("epoch"),
                   data={k: v for k, v in d.items() if k != "jobId"}, wire=wire)

    def to_wire(self, job_id: str) -> dict[str, Any]:
        return {"jobId": job_id, "seq": self.seq, "epoch": self.epoch, "type": self.type, "attempt": self.attempt,
                **self.data}


def wake_records(message: str) -> list[tuple[str, str]]:
    """(job id, event JSON) of each event a wake-up carries (see `_APPEND`); the JSON is empty when
    a wake-up names a job only."""
    parts = message.split("\n")
    if len(parts) % 2:
        parts.append("")
    return list(zip(parts[::2], parts[1::2]))


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
        """stream, seq counter, fence, cancel flag, epoch, writer mark (the script's order)."""
        k = self.store.key
        return [k("job", job_id, "events"), k("job", job_id, "seq"), k("job", job_id, "fence"),
                k("job", job_id, "cancel"), k("job", job_id, "epoch"), k("job", job_id, "mark")]

    def claim(self, job_id: str, attempt: int) -> bool:
        return bool(self._claim(keys=[self._keys(job_id)[2]], args=[attempt, self.ttl]))

    def append(self, job_id: str, attempt: int, type_: str, data: dict[str, Any] | None = None, *,
               continuing: bool = False, number: int | None = None) -> tuple[int, bool]:
        """Append one event; returns (seq, cancel_requested), seq 0 when event `number` of this
        attempt was already written. Raises StaleAttempt if fenced out, and LogLost when
        `continuing` (the writer wrote to this log before) but the log is gone.

        The writes of every job of the process share round trips (`AppendBatcher`)."""
        args = [attempt, type_, orjson.dumps(data or {}).decode(), self.max_len, self.ttl, job_id,
                secrets.token_hex(6), "1" if continuing else "0", "" if number is None else number]
        return self._batcher.call(self._keys(job_id), args)

    def _write_batch(self, calls: list[tuple[list[str], list]]) -> list[Any]:
        """Many appends in one round trip and one script call (per `BATCH_MAX`), which also publishes
        them as one wake-up: per event, Redis runs no script call of its own, the worker packs and
        parses no command of its own, and a web process reads no message of its own. The script is
        loaded again only when Redis lost it; the refused calls are then sent once more."""
        chunks = [calls[i:i + BATCH_MAX] for i in range(0, len(calls), BATCH_MAX)]
        replies = self._evalsha_all(chunks)
        again = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if again:
            self.store.r.script_load(_APPEND)
            for i, reply in zip(again, self._evalsha_all([chunks[i] for i in again])):
                replies[i] = reply
        # A chunk that failed as a whole (the connection, say) fails each of its appends.
        return [r for chunk, reply in zip(chunks, replies)
                for r in (reply if isinstance(reply, list) else [reply] * len(chunk))]

    def _evalsha_all(self, chunks: list[list[tuple[list[str], list]]]) -> list[Any]:
        with self.store.r.pipeline(transaction=False) as pipe:
            for chunk in chunks:
                keys = [key for call_keys, _ in chunk for key in call_keys]
                keys.append(self.notify_channel)
                pipe.evalsha(self._append.sha, len(keys), *keys, *(arg for _, args in chunk for arg in args))
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
            pipe.get(keys[4])
            pipe.get(keys[1])
            pipe.xrange(keys[0], min=f"(0-{after}", max="+", count=count)
            epoch, last_seq, entries = pipe.execute()
        events = [JobEvent(seq=int(eid.split("-")[1]), type=f["t"], attempt=int(f["a"]), data=orjson.loads(f["d"]),
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


__all__ = ["JobEvent", "JobEventLog", "LogLost", "LogState", "StaleAttempt", "TERMINAL_EVENTS", "wake_records"]
