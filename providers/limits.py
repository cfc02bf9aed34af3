"""Per-provider budgets shared by every worker process: concurrent calls and requests per minute.

A burst of jobs waits here, in our queue, instead of drawing 429s from the vendor. The state
lives in Redis, updated by one Lua script so that check-and-take is atomic across processes:

- concurrency: a sorted set of slot holders scored by lease expiry. A holder renews its lease
  while its stream delivers chunks; a crashed worker's slot lapses after `PROVIDER_SLOT_LEASE`.
- requests per minute: a sorted set of call start times, a sliding window of 60 s. Every call
  counts, retries included, since the vendor counts them too.

Written here rather than taken from a library because it has to hold a slot for the length of a
stream (a rate limiter like `limits` only counts hits) and to wait cancellably inside a job.
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from providers.base import NEVER_CANCELLED, CancelToken, CompletionRequest, Provider, ProviderError, StreamChunk

log = logging.getLogger(__name__)

# Both scripts take the time as ARGV[1] (tests pin it) or, when empty, from Redis, shared by all workers.
_NOW = """
local now = tonumber(ARGV[1])
if not now then
  if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: writes after TIME
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: slots zset, window zset. ARGV: now_ms (empty = Redis TIME), concurrency, rpm, lease_ms, token.
# Returns {1, 0} when taken, else {0, ms to wait before trying again}.
_ACQUIRE = _NOW + """
local concurrency, rpm, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
if concurrency > 0 and redis.call('ZCARD', KEYS[1]) >= concurrency then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(first[2]) - now)}
end
if rpm > 0 and redis.call('ZCARD', KEYS[2]) >= rpm then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(oldest[2]) + 60000 - now)}
end
if concurrency > 0 then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
end
if rpm > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], 120000)
end
return {1, 0}
"""

# KEYS: slots zset. ARGV: now_ms (empty = Redis TIME), lease_ms, token. Extends a held slot only.
_RENEW = _NOW + """
local held = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return held
"""


@dataclass(frozen=True)
class Budget:
    concurrency: int = 0  # 0 = unlimited
    rpm: int = 0  # 0 = unlimited

    @property
    def unlimited(self) -> bool:
        return self.concurrency <= 0 and self.rpm <= 0


@dataclass
class BudgetWaitTooLong(ProviderError):
    """Waited `PROVIDER_LIMIT_MAX_WAIT` for a slot: fail the job rather than wait forever (not retried:
    the wait already was the retry)."""

    code: str = field(default="rate_limited", init=False)


def budgets_from(spec: dict[str, dict[str, int]]) -> dict[str, Budget]:
    """Budgets from the parsed `PROVIDER_LIMITS` setting ({provider: {concurrency, rpm}})."""
    return {name: Budget(**values) for name, values in spec.items()}


class Slot:
    """One taken unit of a provider's budget; renew it while streaming, release it when done."""

    def __init__(self, limiter: "ProviderLimiter", provider: str, token: str) -> None:
        self.limiter = limiter
        self.provider = provider
        self.token = token
        self._next_renew = time.monotonic() + limiter.lease_seconds / 3

    def renew_if_due(self) -> None:
        if self.token and time.monotonic() >= self._next_renew:
            self._next_renew = time.monotonic() + self.limiter.lease_seconds / 3
            self.limiter.renew(self.provider, self.token)

    def release(self) -> None:
        if self.token:
            self.limiter.release(self.provider, self.token)
            self.token = ""


class ProviderLimiter:
    def __init__(self, redis_client, key_prefix: str, budgets: dict[str, Budget], lease_seconds: int,
                 max_wait: float, clock_ms: Callable[[], int] | None = None) -> None:
        self.r = redis_client
        self.prefix = key_prefix
        self.budgets = budgets
        self.lease_seconds = lease_seconds
        self.max_wait = max_wait
        self.clock_ms = clock_ms  # None = Redis's clock, the one all workers share
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._renew = redis_client.register_script(_RENEW)

    def _keys(self, provider: str) -> list[str]:
        return [f"{self.prefix}:{provider}:slots", f"{self.prefix}:{provider}:window"]

    def _now(self) -> str:
        return str(self.clock_ms()) if self.clock_ms else ""

    def try_acquire(self, provider: str) -> tuple[Slot | None, float]:
        """One atomic attempt: (slot, 0) or (None, seconds to wait)."""
        budget = self.budgets.get(provider, Budget())
        if budget.unlimited:
            return Slot(self, provider, ""), 0.0
        token = uuid.uuid4().hex
        taken, wait_ms = self._acquire(keys=self._keys(provider), args=[
            self._now(), budget.concurrency, budget.rpm, self.lease_seconds * 1000, token])
        if taken:
            return Slot(self, provider, token if budget.concurrency > 0 else ""), 0.0
        return None, int(wait_ms) / 1000

    def acquire(self, provider: str, model: str = "", cancelled: Callable[[], bool] = lambda: False,
                cancel_exc: type[BaseException] = InterruptedError,
                sleep: Callable[[float], None] = time.sleep) -> Slot:
        """Wait for a slot: cancellable, and never longer than `max_wait`."""
        deadline = time.monotonic() + self.max_wait
        while True:
            slot, wait = self.try_acquire(provider)
            if slot is not None:
                return slot
            if cancelled():
                raise cancel_exc()
            left = deadline - time.monotonic()
            if left <= 0:
                raise BudgetWaitTooLong(f"no {provider} capacity within {self.max_wait:g}s", provider=provider,
                                        model=model)
            # A released slot frees capacity before its lease ends: poll at least every 0.25 s, with jitter
            # so waiting workers do not all ask at the same instant.
            sleep(min(wait, 0.25, left) * random.uniform(0.5, 1.0))

    def renew(self, provider: str, token: str) -> None:
        try:
            self._renew(keys=self._keys(provider)[:1], args=[self._now(), self.lease_seconds * 1000, token])
        except Exception as exc:  # a missed renewal only risks the slot lapsing early
            log.warning("could not renew %s slot: %s", provider, exc)

    def release(self, provider: str, token: str) -> None:
        try:
            self.r.zrem(self._keys(provider)[0], token)
        except Exception as exc:  # the lease expiry frees it anyway
            log.warning("could not release %s slot: %s", provider, exc)


class LimitedProvider:
    """A provider whose every call first takes a slot of its budget (and gives it back at the end)."""

    def __init__(self, inner: Provider, limiter: ProviderLimiter,
                 on_wait: Callable[[float], None] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = limiter
        self.on_wait = on_wait

    def models(self) -> list[str]:
        return self.inner.models()

    def stream(self, request: CompletionRequest, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[StreamChunk]:
        started = time.monotonic()
        try:
            slot = self.limiter.acquire(self.name, request.model, lambda: cancel.cancelled)
        except InterruptedError:  # cancelled while waiting for a slot
            return
        try:
            if self.on_wait is not None:
                self.on_wait(time.monotonic() - started)
            inner = self.inner.stream(request, cancel)
            try:
                for chunk in inner:
                    slot.renew_if_due()
                    yield chunk
            finally:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()
        finally:
            slot.release()
