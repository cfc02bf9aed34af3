"""The Redis client with our key prefix (`realtime.redis_store.kv` reaches it from any app context)."""
from __future__ import annotations

from flask import Flask

from extensions.ext_settings import settings
from realtime.redis_store import RedisStore, store_of


def init_app(app: Flask) -> None:
    RedisStore().init_app(app, settings(app))


def store(app: Flask | None = None) -> RedisStore:
    return store_of(app)
