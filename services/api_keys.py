"""Personal API keys: create (the key is shown once), list, revoke, and authenticate a Bearer key.

Only a SHA-256 of the key is stored. A slow password hash (argon2) is not needed here: the key is
32 random bytes (256 bits), so the hash cannot be brute-forced however fast it is, and a fast hash
lets every request look its key up by an indexed equality in one query. That lookup happens on
every request, in the database, so a revoked or expired key is refused at once by every web
process (no per-process cache can outlive a revoke).
"""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import ApiKey, now_ms
from services.errors import InvalidRequest, NotFound, Unauthenticated

KEY_PREFIX = "sk-cs-"
LAST_USED_RESOLUTION_MS = 60_000  # last_used_at is written at most once a minute per key


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def create_key(s: Session, user_id: str, name: str, expires_at: int | None) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plaintext (the only time the plaintext exists)."""
    if expires_at is not None and expires_at <= now_ms():
        raise InvalidRequest("expiresAt must be in the future", param="expiresAt")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(user_id=user_id, name=name, key_hash=hash_key(key), prefix=key[:10], last4=key[-4:],
                 expires_at=expires_at)
    s.add(row)
    s.commit()
    return row, key


def list_keys(s: Session, user_id: str) -> list[ApiKey]:
    return list(s.scalars(select(ApiKey).where(ApiKey.user_id == user_id)
                          .order_by(ApiKey.created_at.desc(), ApiKey.id)))


def revoke_key(s: Session, user_id: str, key_id: str) -> ApiKey:
    row = s.execute(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)).scalar_one_or_none()
    if row is None:
        raise NotFound("api key")
    if row.revoked_at is None:
        row.revoked_at = now_ms()
        s.commit()
    return row


def authenticate(s: Session, token: str) -> str:
    """The user id a key belongs to; raises Unauthenticated for an unknown, revoked or expired key."""
    row = s.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(token))).scalar_one_or_none()
    now = now_ms()
    if row is None:
        raise Unauthenticated("Incorrect API key provided", code="invalid_api_key")
    if row.revoked_at is not None:
        raise Unauthenticated("This API key has been revoked", code="invalid_api_key")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("This API key has expired", code="invalid_api_key")
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION_MS:
        s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        s.commit()
    return row.user_id


def user_id_for(s: Session, token: str) -> str | None:
    """The key's user id without side effects (for the rate limiter's key), or None."""
    row = s.execute(select(ApiKey.user_id, ApiKey.revoked_at, ApiKey.expires_at)
                    .where(ApiKey.key_hash == hash_key(token))).first()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now_ms()):
        return None
    return row.user_id
