"""Password policy and hashing; JWT set-up with the Redis blocklist of revoked tokens (shared with sockets)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask
from flask_jwt_extended import JWTManager

from extensions.ext_settings import settings as settings_of
from realtime.socket_auth import REVOKED_MESSAGE, is_revoked, revoke_token
from web.errors import error_response

_hasher = PasswordHasher()  # argon2id with the library's recommended (RFC 9106 low-memory) parameters


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verifying against this keeps an unknown-user login as slow as a wrong password (made on first use)."""
    return _hasher.hash("dummy-password-for-timing")

_RULES = (
    (re.compile(r"[A-Z]"), "an uppercase letter"),
    (re.compile(r"[a-z]"), "a lowercase letter"),
    (re.compile(r"\d"), "a digit"),
    (re.compile(r"[^A-Za-z0-9]"), "a special character"),
)


def password_problems(password: str) -> list[str]:
    """What the seed's password rule finds missing (empty when the password is strong enough)."""
    missing = [] if len(password) >= 8 else ["at least 8 characters"]
    missing += [label for pattern, label in _RULES if not pattern.search(password)]
    return missing


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


jwt = JWTManager()


@dataclass(frozen=True)
class Caller:
    """`current_user`: who a verified, unrevoked token speaks for. Tokens go to existing users only
    and users are never deleted, so a request needs no database round trip to know its caller;
    a view that needs the user's row (`/api/auth/me`) loads it."""

    id: str


def init_app(app: Flask) -> None:
    settings = settings_of(app)
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.jwt_access_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.jwt_refresh_days),
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ERROR_MESSAGE_KEY="message",
    )
    jwt.init_app(app)

    @jwt.token_in_blocklist_loader
    def _is_revoked(_header: dict, payload: dict) -> bool:
        return is_revoked(payload)

    @jwt.user_lookup_loader
    def _caller(_header: dict, payload: dict) -> Caller:
        return Caller(payload["sub"])

    def _unauthorized(message: str):
        return error_response(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})

    jwt.unauthorized_loader(lambda reason: _unauthorized("missing or malformed Authorization header"))
    jwt.invalid_token_loader(lambda reason: _unauthorized("invalid token"))
    jwt.expired_token_loader(lambda h, p: _unauthorized("token has expired"))
    jwt.revoked_token_loader(lambda h, p: _unauthorized(REVOKED_MESSAGE))
    jwt.needs_fresh_token_loader(lambda h, p: _unauthorized("fresh token required"))
    jwt.user_lookup_error_loader(lambda h, p: _unauthorized("user no longer exists"))
    jwt.token_verification_failed_loader(lambda h, p: _unauthorized("token verification failed"))


__all__ = ["Caller", "hash_password", "init_app", "jwt", "password_problems", "revoke_token", "verify_password"]
