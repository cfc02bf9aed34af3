"""Messages per second per user, counted in Redis so every web process shares one budget.

A sliding one-second window: each attempt is a member of a per-user sorted set scored by Redis's
own clock (shared by every web process), and one Lua script drops what is older than a second,
adds the attempt and counts. A fixed window would let a burst straddling a second boundary
store almost twice the limit. Refused attempts count too, so a flood stays refused (and reaches
the abuse threshold) instead of being let through as older attempts age out. The set holds at
most about `limit × abuse factor` members: beyond that the socket is closed.

Written here rather than with the HTTP rate limiter: that one works per request, while this
counts frames inside one long-lived WebSocket.
"""
from __future__ import annotations

import uuid

from realtime.redis_store import RedisStore

WINDOW_US = 1_000_000

# KEYS: the user's set. ARGV: a unique member, window in µs. Returns the attempts in the last window.
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000) + 1000)
return redis.call('ZCARD', KEYS[1])
"""


def count_message(store: RedisStore, user_id: str) -> int:
    """Count one message for `user_id`; returns the messages of the last second, this one included."""
    script = getattr(store, "_chat_rate_script", None)
    if script is None:
        script = store.r.register_script(_COUNT)
        store._chat_rate_script = script  # type: ignore[attr-defined]
    return int(script(keys=[store.key("chat", "rate", user_id)], args=[uuid.uuid4().hex, WINDOW_US]))
