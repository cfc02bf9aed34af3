"""Password policy and hashing; JWT set-up with the Redis blocklist of revoked tokens (shared with sockets)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app
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


class VerifiedTokenCache(JWTManager):
    """Flask-JWT-Extended decodes a token three times per request (claims, header, then verified);
    a client sends the same access token for its whole lifetime. Verified claims are kept per
    (secret, token), bounded, and a kept token is still refused once it expires: the library
    decodes it again, which raises its own expiry error. Revocation is checked on every request
    regardless (the blocklist loader)."""

    MAX_TOKENS = 10_000

    def __init__(self) -> None:
        super().__init__()
        self._verified: dict[tuple[str, str], dict] = {}

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        key = (str(current_app.config["JWT_SECRET_KEY"]), encoded_token)
        claims = self._verified.get(key)
        if claims is None or ("exp" in claims and time.time() >= claims["exp"]):
            self._verified.pop(key, None)
            claims = super()._decode_jwt_from_config(encoded_token)
            if len(self._verified) >= self.MAX_TOKENS:
                self._verified.clear()  # rare and cheap: the next request of each client verifies again
            self._verified[key] = claims
        return dict(claims)


jwt = VerifiedTokenCache()


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
