"""Who is on a socket or SSE stream, and the one token blocklist that HTTP and sockets share.

Browsers cannot set headers on WebSocket or EventSource requests, so a `token` query parameter
is accepted there. flask-sock does not check `Origin`: `check_origin` does.
"""
from __future__ import annotations

import time

from flask import request
from flask_jwt_extended import decode_token

from extensions.ext_settings import settings
from models import User
from models.db import db
from realtime.redis_store import kv
from services.errors import Forbidden, Unauthenticated

REVOKED_MESSAGE = "token has been revoked"


def _revoked_key(jti: str) -> str:
    return kv.key("jwt", "revoked", jti)


def is_revoked(payload: dict) -> bool:
    return bool(kv.r.exists(_revoked_key(payload["jti"])))


def revoke_token(payload: dict) -> None:
    """Put a token's jti on the blocklist until the token would have expired anyway."""
    ttl = max(1, int(payload.get("exp", time.time() + 60) - time.time()))
    kv.r.set(_revoked_key(payload["jti"]), "1", ex=ttl)


def authenticate_stream_user() -> User:
    """A user from `Authorization: Bearer` or a `token` query parameter."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.args.get("token", "")
    if not token:
        raise Unauthenticated("missing token")
    try:
        payload = decode_token(token)
    except Exception:  # expired, malformed or badly signed: all the same to the client
        raise Unauthenticated("invalid token") from None
    if payload.get("type") != "access":
        raise Unauthenticated("invalid token")
    if is_revoked(payload):
        raise Unauthenticated(REVOKED_MESSAGE)
    user = db.session.get(User, payload["sub"])
    if user is None:
        raise Unauthenticated("invalid token")
    return user


def check_origin() -> None:
    allowed = settings().allowed_origins
    origin = request.headers.get("Origin")
    if origin is None or "*" in allowed:
        return  # non-browser clients send no Origin; browsers always do
    if origin not in allowed and origin.split("://", 1)[-1] != request.host:  # same origin is always fine
        raise Forbidden("origin not allowed")
