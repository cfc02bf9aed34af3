"""kombu's Redis transport, keeping one redis-py client per channel for the commands it sends.

kombu's Redis channel builds a new redis-py client for every message it publishes
(`conn_or_acquire` → `_create_client`), and building one fills a table of about 170 response
callbacks: measured here, a third of the cost of a `send_task`, on every submission. A client is
only a handle on the channel's connection pool, so one per pool serves every command; a new pool
(after kombu drops the old one on a connection error) gets a new client.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _command_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        if self._command_client is None or self._command_client.connection_pool is not pool:
            self._command_client = self._create_client()
        yield self._command_client


class Transport(kombu_redis.Transport):
    Channel = Channel
