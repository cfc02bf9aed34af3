"""Login sessions: every token of one login carries its session id, so logout ends the whole session.

A login (or registration) starts a session: its access and refresh tokens, and every access token
the refresh token later mints, carry `sid` (the session id) and `sat` (when the session started, µs
since the epoch). Three Redis keys, shared by every web process, decide whether a token still counts:

- `jwt:revoked:<jti>`: that one token was revoked;
- `jwt:session:<sid>`: the session was ended by `POST /api/auth/logout`;
- `jwt:user:<user>:valid_after`: `POST /api/auth/logout-all` ended every session that started earlier.

Each lives as long as the longest token it can refuse (the refresh lifetime), then expires. HTTP (the
JWT blocklist loader in `web/security.py`) and sockets/SSE (`realtime/socket_auth.py`) ask the same
question here, `is_revoked`, in one round trip, and give the same message.
"""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

from realtime.redis_store import kv

REVOKED_MESSAGE = "token has been revoked"


def _keys(payload: dict) -> list[str]:
    return [kv.key("jwt", "revoked", payload.get("jti", "")),
            kv.key("jwt", "session", payload.get("sid") or "-"),
            kv.key("jwt", "user", str(payload.get("sub", "")), "valid_after")]


def new_session_claims() -> dict:
    return {"sid": uuid.uuid4().hex, "sat": time.time_ns() // 1000}


def session_claims(payload: dict) -> dict:
    """The session claims of a (refresh) token, for the access tokens it mints."""
    return {k: payload[k] for k in ("sid", "sat") if k in payload}


def is_revoked(payload: dict) -> bool:
    """True if the token, its session, or every session of its user before it, was ended."""
    token, session, valid_after = kv.r.mget(_keys(payload))
    if token or (session and payload.get("sid")):
        return True
    return valid_after is not None and int(payload.get("sat", 0)) <= int(valid_after)


def _lifetime(refresh_days: int) -> int:
    return int(timedelta(days=refresh_days).total_seconds())


def revoke_token(payload: dict) -> None:
    """Put a token's jti on the blocklist until the token would have expired anyway."""
    ttl = max(1, int(payload.get("exp", time.time() + 60) - time.time()))
    kv.r.set(_keys(payload)[0], "1", ex=ttl)


def end_session(payload: dict, refresh_days: int) -> None:
    """Logout: this token, and every token of its session (the refresh token included)."""
    pipe = kv.r.pipeline()
    pipe.set(_keys(payload)[0], "1", ex=max(1, int(payload.get("exp", time.time() + 60) - time.time())))
    if payload.get("sid"):
        pipe.set(_keys(payload)[1], "1", ex=_lifetime(refresh_days))
    pipe.execute()


def end_all_sessions(user_id: str, refresh_days: int) -> None:
    """Logout everywhere: every session of the user that started before now."""
    kv.r.set(kv.key("jwt", "user", user_id, "valid_after"), str(time.time_ns() // 1000), ex=_lifetime(refresh_days))
