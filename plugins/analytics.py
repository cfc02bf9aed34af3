"""Example plugin: per-user daily usage counts in Redis.

Enable it with `PLUGINS=plugins.analytics:AnalyticsPlugin`; read the counts with
`GET /api/users/me/analytics?days=7`, or `daily_usage()` from Python. One Redis hash per user and
UTC day (`<prefix>analytics:<user id>:<YYYY-MM-DD>`, kept `RETENTION_DAYS`) holds `conversations`,
`messages`, `user_messages`, `jobs`, `jobs_failed`, `input_tokens` and `output_tokens`. Each event
counts once even when it is delivered twice: a Lua script increments only if the event's id was
not seen before.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from plugins.base import Plugin, PluginContext

PLUGIN_PATH = "plugins.analytics:AnalyticsPlugin"
RETENTION_DAYS = 400
SEEN_TTL = 7 * 86_400
FIELDS = ("conversations", "messages", "user_messages", "jobs", "jobs_failed", "input_tokens", "output_tokens")

# KEYS: seen marker, counts hash. ARGV: seen ttl, hash ttl, then field/increment pairs.
_COUNT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def counts_key(store: Any, user_id: str, day: str) -> str:
    return store.key("analytics", user_id, day)


class AnalyticsPlugin(Plugin):
    def setup(self, context: PluginContext) -> None:
        super().setup(context)
        self._script = context.redis.r.register_script(_COUNT_ONCE)

    def _count(self, event: dict[str, Any], increments: dict[str, int]) -> None:
        store = self.context.redis
        day = _day(int(event.get("occurredAt") or time.time() * 1000))
        args: list[Any] = [SEEN_TTL, RETENTION_DAYS * 86_400]
        for name, value in increments.items():
            if value:
                args += [name, int(value)]
        self._script(keys=[store.key("analytics", "seen", event["eventId"]),
                           counts_key(store, event["userId"], day)], args=args)

    def on_conversation_created(self, event: dict[str, Any]) -> None:
        self._count(event, {"conversations": 1})

    def on_message_sent(self, event: dict[str, Any]) -> None:
        self._count(event, {"messages": 1, "user_messages": int(event.get("role") == "user")})

    def on_job_completed(self, event: dict[str, Any]) -> None:
        usage = event.get("usage") or {}
        self._count(event, {"jobs": 1, "jobs_failed": int(event.get("status") == "failed"),
                            "input_tokens": usage.get("input_tokens") or 0,
                            "output_tokens": usage.get("output_tokens") or 0})


def daily_usage(store: Any, user_id: str, days: int, now_ms: int | None = None) -> list[dict[str, Any]]:
    """The user's counts for the last `days` UTC days, newest first (zeros where nothing happened)."""
    today = datetime.fromtimestamp((now_ms or time.time() * 1000) / 1000, tz=timezone.utc).date()
    dates = [(today - timedelta(days=i)).isoformat() for i in range(days)]
    pipe = store.r.pipeline(transaction=False)
    for d in dates:
        pipe.hgetall(counts_key(store, user_id, d))
    out = []
    for d, raw in zip(dates, pipe.execute()):
        out.append({"date": d, **{f: int(raw.get(f, 0)) for f in FIELDS}})
    return out
