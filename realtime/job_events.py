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
from redis.exceptions import NoScriptError, ResponseError

from realtime.event_batcher import AppendBatcher
from realtime.redis_store import RedisStore

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
NOTIFY_CHANNEL = "jobs:notify"

# One call writes a batch of events (of different jobs: a job has one append in flight at most).
# KEYS: the notify channel. ARGV: the key prefix, maxlen, ttl, then 7 per event: job id, attempt,
# type, data, epoch for a new log, '1' = the log must exist, the writer's own number for this event
# ('' = none): a retried write whose first try went through (its reply lost with the connection) is
# not written twice. A job's key names are made here from the prefix and its id, which spares the
# writer packing six keys per event (a batch spans many jobs, so this needs one Redis, not a
# cluster). Returns {seq, cancel, epoch} per event (seq -1: fenced out, -2: the log is gone, 0: a
# repeat, -3: an error, its text in place of the epoch). The events written go out as one wake-up:
# `job id \n wire` records joined by \n.
_APPEND = """
local prefix, maxlen, ttl = ARGV[1], ARGV[2], ARGV[3]
local function write(a)
  local job, attempt, kind, data = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local number = ARGV[a + 7]
  local base = prefix .. 'job:' .. job .. ':'
  local stream, seqkey, cancel = base .. 'events', base .. 'seq', base .. 'cancel'
  local fence = redis.call('GET', base .. 'fence')
  if fence and tonumber(fence) > tonumber(attempt) then return {-1, 0, ''} end
  if ARGV[a + 6] == '1' and redis.call('EXISTS', seqkey) == 0 then return {-2, 0, ''} end
  local mark = attempt .. ':' .. number
  if number ~= '' and redis.call('GET', base .. 'mark') == mark then
    return {0, redis.call('EXISTS', cancel), ''}
  end
  if number ~= '' then redis.call('SET', base .. 'mark', mark, 'EX', ttl) end
  local epoch = redis.call('GET', base .. 'epoch') or ARGV[a + 5]
  redis.call('SET', base .. 'epoch', epoch, 'EX', ttl)
  local seq = redis.call('INCR', seqkey)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '0-' .. seq, 't', kind, 'd', data, 'a', attempt, 'e', epoch)
  redis.call('EXPIRE', stream, ttl)
  redis.call('EXPIRE', seqkey, ttl)
  local wire = '{"jobId":"' .. job .. '","seq":' .. seq .. ',"epoch":"' .. epoch .. '","type":"' .. kind
    .. '","attempt":' .. attempt
  if data == '{}' then wire = wire .. '}' else wire = wire .. ',' .. string.sub(data, 2) end
  return {seq, redis.call('EXISTS', cancel), epoch}, job .. '\\n' .. wire
end
local out, wires = {}, {}
for i = 0, (#ARGV - 3) / 7 - 1 do
  -- One job's failure (a key of the wrong type, say) is that event's error, not the batch's.
  local ok, reply, wire = pcall(write, 3 + i * 7)
  if not ok then reply = {-3, 0, tostring(reply)} end
  out[i + 1] = reply
  if wire then wires[#wires + 1] = wire end
end
if #wires > 0 then redis.call('PUBLISH', KEYS[1], table.concat(wires, '\\n')) end
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

    def _key(self, job_id: str, name: str) -> str:
        """A key of the job's log (`_APPEND` makes the same names from the prefix)."""
        return self.store.key("job", job_id, name)

    def claim(self, job_id: str, attempt: int) -> bool:
        return bool(self._claim(keys=[self._key(job_id, "fence")], args=[attempt, self.ttl]))

    def append(self, job_id: str, attempt: int, type_: str, data: dict[str, Any] | None = None, *,
               continuing: bool = False, number: int | None = None) -> tuple[int, bool]:
        """Append one event; returns (seq, cancel_requested), seq 0 when event `number` of this
        attempt was already written. Raises StaleAttempt if fenced out, and LogLost when
        `continuing` (the writer wrote to this log before) but the log is gone.

        The writes of every job of the process share round trips (`AppendBatcher`)."""
        args = [job_id, attempt, type_, orjson.dumps(data or {}).decode(), secrets.token_hex(6),
                "1" if continuing else "0", "" if number is None else number]
        return self._batcher.call(job_id, args)

    def _write_batch(self, calls: list[list]) -> list[Any]:
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

    def _evalsha_all(self, chunks: list[list[list]]) -> list[Any]:
        with self.store.r.pipeline(transaction=False) as pipe:
            for chunk in chunks:
                pipe.evalsha(self._append.sha, 1, self.notify_channel, self.store.prefix, self.max_len, self.ttl,
                             *(arg for args in chunk for arg in args))
            return pipe.execute(raise_on_error=False)

    @staticmethod
    def _result(reply: Any, job_id: str) -> tuple[int, bool]:
        if isinstance(reply, Exception):
            raise reply
        seq, cancel, epoch_or_error = reply
        if seq == -1:
            raise StaleAttempt(job_id)
        if seq == -2:
            raise LogLost(job_id)
        if seq == -3:
            raise ResponseError(epoch_or_error)
        return int(seq), bool(cancel)

    def read_after(self, job_id: str, after: int, count: int = 1000) -> LogState:
        with self.store.r.pipeline(transaction=False) as pipe:
            pipe.get(self._key(job_id, "epoch"))
            pipe.get(self._key(job_id, "seq"))
            pipe.xrange(self._key(job_id, "events"), min=f"(0-{after}", max="+", count=count)
            epoch, last_seq, entries = pipe.execute()
        events = [JobEvent(seq=int(eid.split("-")[1]), type=f["t"], attempt=int(f["a"]), data=orjson.loads(f["d"]),
                           epoch=f.get("e", epoch or "")) for eid, f in entries]
        return LogState(epoch, int(last_seq or 0), events)

    def request_cancel(self, job_id: str) -> None:
        self.store.r.set(self.cancel_key(job_id), "1", ex=self.ttl)

    def cancel_key(self, job_id: str) -> str:
        return self._key(job_id, "cancel")

    def lease_key(self, job_id: str) -> str:
        """Held by the attempt running the job; lapses when its worker dies."""
        return self._key(job_id, "lease")

    @property
    def notify_channel(self) -> str:
        return self.store.key(NOTIFY_CHANNEL)


__all__ = ["JobEvent", "JobEventLog", "LogLost", "LogState", "StaleAttempt", "TERMINAL_EVENTS", "wake_records"]
