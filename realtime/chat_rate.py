"""Messages per second per user, counted in Redis so every web process shares one budget.

A fixed one-second window (INCR + EXPIRE in one round trip) rather than a library: the HTTP rate
limiter works per request, while this counts frames inside one long-lived WebSocket.
"""
from __future__ import annotations

import time

from realtime.redis_store import RedisStore


def count_message(store: RedisStore, user_id: str) -> int:
    """Count one message for `user_id` in the current second; returns the count so far."""
    key = store.key("chat", "rate", user_id, str(int(time.time())))
    pipe = store.r.pipeline()
    pipe.incr(key)
    pipe.expire(key, 2)
    return int(pipe.execute()[0])
