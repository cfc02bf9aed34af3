"""The chat message rate is a sliding one-second window in the real Redis: a burst straddling a
second boundary stores at most the limit (a fixed window would store almost twice as many)."""
from __future__ import annotations

import time
import uuid

from realtime.chat_rate import count_message
from realtime.redis_store import RedisStore

LIMIT = 20


def _sleep_until_fraction(fraction: float) -> None:
    """Sleep until the wall clock is `fraction` into a second (Redis shares this machine's clock)."""
    now = time.time()
    target = int(now) + fraction
    if target <= now + 0.05:
        target += 1
    time.sleep(target - now)


def _accepted(store: RedisStore, user: str, n: int) -> int:
    return sum(count_message(store, user) <= LIMIT for _ in range(n))


def test_a_burst_across_a_second_boundary_stores_at_most_the_limit(settings):
    store = RedisStore().init(settings)
    user = "rate-" + uuid.uuid4().hex[:8]
    _sleep_until_fraction(0.85)
    first = _accepted(store, user, LIMIT)      # late in one second...
    _sleep_until_fraction(0.05)
    second = _accepted(store, user, LIMIT)     # ...and early in the next: still the same sliding second
    assert first == LIMIT and second == 0
    time.sleep(1.05)                           # a full second later the budget is back
    assert _accepted(store, user, LIMIT) == LIMIT
    assert _accepted(store, user, 1) == 0


def test_counts_are_per_user_and_refused_attempts_count(settings):
    store = RedisStore().init(settings)
    a, b = ("rate-" + uuid.uuid4().hex[:8] for _ in range(2))
    counts = [count_message(store, a) for _ in range(LIMIT * 3)]
    assert counts == list(range(1, LIMIT * 3 + 1))  # what the socket compares with the limit and abuse factor
    assert count_message(store, b) == 1
    ttl = store.r.pttl(store.key("chat", "rate", a))
    assert 0 < ttl <= 2000
