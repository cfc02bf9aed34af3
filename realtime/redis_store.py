"""The Redis connection shared by the web app and the worker, with our key prefix.

Every key we write goes through `key()`, so a deployment (or a test run) owns a namespace
and can be cleaned up without touching anybody else's keys.
"""
from __future__ import annotations

import redis
from werkzeug.local import LocalProxy

from settings import Settings

EXTENSION_KEY = "chat_studio.redis"


class RedisStore:
    def __init__(self) -> None:
        self.client: redis.Redis | None = None
        self.prefix = ""

    def init(self, settings: Settings) -> "RedisStore":
        # Lazily connecting pool: nothing is dialled until the first command.
        self.client = redis.Redis.from_url(
            settings.redis_url, decode_responses=True, health_check_interval=30,
            socket_connect_timeout=5, socket_timeout=None, retry_on_timeout=True,
        )
        self.prefix = settings.redis_key_prefix
        return self

    def init_app(self, app, settings: Settings) -> None:
        self.init(settings)
        app.extensions[EXTENSION_KEY] = self

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def r(self) -> redis.Redis:
        assert self.client is not None, "RedisStore.init was not called"
        return self.client


def store_of(app=None) -> RedisStore:
    """The RedisStore of `app`, or of the current app (web request or Celery task)."""
    from flask import current_app

    return (app or current_app).extensions[EXTENSION_KEY]


# The current app's RedisStore, for code that runs in an app context.
kv: RedisStore = LocalProxy(store_of)  # type: ignore[assignment]
