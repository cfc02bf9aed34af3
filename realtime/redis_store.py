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
        self.client = redis.Redis(connection_pool=blocking_pool(
            settings, decode_responses=True, health_check_interval=30, socket_connect_timeout=5,
            socket_timeout=None, retry_on_timeout=True))
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


def blocking_pool(settings: Settings, **options) -> redis.BlockingConnectionPool:
    """A pool of `REDIS_MAX_CONNECTIONS` that makes a command wait for a free connection.

    redis-py's default pool raises `Too many connections` at its cap (100): hundreds of greenlets
    each waiting on a reply would then fail jobs and lapse leases. A connection is held only for
    one round trip (pub/sub subscribers hold one each for good), so a small pool serves a whole
    process; waiting is bounded by `REDIS_POOL_TIMEOUT`.
    """
    return redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout, **options)


def store_of(app=None) -> RedisStore:
    """The RedisStore of `app`, or of the current app (web request or Celery task)."""
    from flask import current_app

    return (app or current_app).extensions[EXTENSION_KEY]


# The current app's RedisStore, for code that runs in an app context.
kv: RedisStore = LocalProxy(store_of)  # type: ignore[assignment]
