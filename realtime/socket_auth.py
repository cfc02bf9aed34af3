"""Who is on a socket or SSE stream, checked against the one token blocklist that HTTP and sockets
share (`realtime/sessions.py`: revoked tokens, ended sessions, logout-all).

Browsers cannot set headers on WebSocket or EventSource requests, so a `token` query parameter
is accepted there. flask-sock does not check `Origin`: `check_origin` does.
"""
from __future__ import annotations

from flask import g, request
from flask_jwt_extended import decode_token
from jwt import ExpiredSignatureError

from extensions.ext_settings import settings
from models import User
from models.db import db
from realtime.sessions import REVOKED_MESSAGE, is_revoked, revoke_token
from services.errors import Forbidden, Unauthenticated

__all__ = ["REVOKED_MESSAGE", "authenticate_stream_user", "check_origin", "is_revoked", "revoke_token"]


def _token() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else request.args.get("token", "")


def authenticate_stream_user() -> User:
    """A user from `Authorization: Bearer` or a `token` query parameter. Refusals say what HTTP says
    for the same token (README "Naming")."""
    token = _token()
    if not token:
        raise Unauthenticated("missing or malformed Authorization header")
    try:
        payload = decode_token(token)
    except ExpiredSignatureError:
        raise Unauthenticated("token has expired") from None
    except Exception:  # malformed or badly signed: all the same to the client
        raise Unauthenticated("invalid token") from None
    if payload.get("type") != "access":
        raise Unauthenticated("invalid token")
    if is_revoked(payload):
        raise Unauthenticated(REVOKED_MESSAGE)
    user = db.session.get(User, payload["sub"])
    if user is None:
        raise Unauthenticated("user no longer exists")
    g.stream_user_id = user.id  # for the access log
    return user


def check_origin() -> None:
    allowed = settings().allowed_origins
    origin = request.headers.get("Origin")
    if origin is None or "*" in allowed:
        return  # non-browser clients send no Origin; browsers always do
    if origin not in allowed and origin.split("://", 1)[-1] != request.host:  # same origin is always fine
        raise Forbidden("origin not allowed")
