"""Per-user cache of hot reads (conversation list pages, stats) in Redis, with versioned keys.

Invalidation never scans keys (the seed's `KEYS pattern` blocks Redis on a large key space):
every cached answer of a user lives under that user's current *version token*, and a write
replaces the token, so all older entries become unreachable at once and expire on their TTL.

Writes mark the user on the SQLAlchemy session (`mark_user_changed`); the token is replaced only
after that transaction commits, so a reader that sees the new token also sees the new rows.
A reader fetches the token before it queries the database, so an answer computed from old rows
can only ever be stored under an old token.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any, Callable

from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from realtime.redis_store import RedisStore

log = logging.getLogger(__name__)

_STALE_USERS = "cache_stale_users"
_VERSION_TTL = 30 * 86_400


CONTENT = "content"
MEMBERSHIP = "membership"


def mark_user_changed(session: Session, user_id: str, *, membership: bool = False) -> None:
    """Record that this transaction changes what the user's cached reads would answer.

    `membership=True` when conversations are created or deleted: only then does the user's
    conversation count change, which is cached under its own token because counting a large
    account is the most expensive part of a list page.
    """
    scopes = session.info.setdefault(_STALE_USERS, {}).setdefault(user_id, set())
    scopes.add(CONTENT)
    if membership:
        scopes.add(MEMBERSHIP)


class ResponseCache:
    def __init__(self, store: RedisStore, ttl: int) -> None:
        self.store = store
        self.ttl = ttl

    def listen(self, session_factory: Any) -> None:
        """Invalidate after each commit of this session factory that recorded a change."""
        event.listen(session_factory, "after_commit", self._after_commit)
        event.listen(session_factory, "after_rollback", self._after_rollback)

    # ------------------------------------------------------------------ invalidation

    def _after_commit(self, session: Session) -> None:
        stale = session.info.pop(_STALE_USERS, None)
        if stale:
            self.invalidate(stale)

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(_STALE_USERS, None)

    def invalidate(self, stale: dict[str, set[str]]) -> None:
        """Replace the version token of each (user, scope)."""
        try:
            pipe = self.store.r.pipeline(transaction=False)
            for user_id, scopes in stale.items():
                for scope in scopes:
                    pipe.set(self._version_key(user_id, scope), secrets.token_hex(8), ex=_VERSION_TTL)
            pipe.execute()
        except RedisError as exc:  # the committed write stands; cached reads may lag by up to the TTL
            log.warning("cache invalidation failed for %s: %s", sorted(stale), exc)

    # ------------------------------------------------------------------ reads

    def get_or_compute(self, user_id: str, name: str, params: dict[str, Any],
                       compute: Callable[[], Any], scope: str = CONTENT) -> Any:
        """The cached answer for (user, name, params), computing and storing it on a miss.

        When Redis is unavailable the answer is computed and served uncached.
        """
        r = self.store.r
        version_key = self._version_key(user_id, scope)
        try:
            version = r.get(version_key)
            if version is None:
                r.set(version_key, secrets.token_hex(8), ex=_VERSION_TTL, nx=True)
                version = r.get(version_key)
            key = self._entry_key(user_id, version, name, params)
            hit = r.get(key)
        except RedisError as exc:
            log.warning("cache unavailable: %s", exc)
            return compute()
        if hit is not None:
            return json.loads(hit)
        value = compute()
        try:
            r.set(key, json.dumps(value, separators=(",", ":")), ex=self.ttl)
        except RedisError as exc:
            log.warning("cache write failed: %s", exc)
        return value

    def _version_key(self, user_id: str, scope: str) -> str:
        return self.store.key("cache", "ver", scope, user_id)

    def _entry_key(self, user_id: str, version: str | None, name: str, params: dict[str, Any]) -> str:
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]
        return self.store.key("cache", user_id, str(version), name, digest)
