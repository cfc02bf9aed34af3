"""The Redis response cache of hot reads, invalidated after every commit that changes them."""
from __future__ import annotations

from flask import Flask

from extensions.ext_database import database
from extensions.ext_redis import store
from extensions.ext_settings import settings
from extensions.slot import Slot
from realtime.cache import ResponseCache

_slot: Slot[ResponseCache] = Slot("response_cache")


def init_app(app: Flask) -> None:
    cache = ResponseCache(store(app), settings(app).cache_ttl)
    cache.listen(database(app).session.session_factory)
    _slot.set(app, cache)


def response_cache(app: Flask | None = None) -> ResponseCache:
    return _slot.get(app)
