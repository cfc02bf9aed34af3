"""OpenAI's error shape on `/v1`: `{"error": {"message", "type", "param", "code"}}` with OpenAI's statuses,
so the official SDKs raise their own exception classes (AuthenticationError, NotFoundError, ...).

`web.errors.error_response` hands every `/v1` failure here (ours, Flask's, the rate limiter's), so
one place decides the shape; `/api` keeps our envelope.
"""
from __future__ import annotations

from typing import Any

from flask import g, jsonify

from services.errors import DomainError, TimedOut, UpstreamFailed
from web.errors import ApiError, from_domain

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 405: "invalid_request_error", 409: "invalid_request_error",
          413: "invalid_request_error", 415: "invalid_request_error", 429: "requests"}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def is_v1(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def _param(details: Any) -> str | None:
    if isinstance(details, dict):
        return details.get("param")
    if isinstance(details, list) and details and isinstance(details[0], dict) and details[0].get("loc"):
        loc = [str(p) for p in details[0]["loc"] if p != "body"]
        return ".".join(loc) or None
    return None


def openai_error(status: int, code: str, message: str, details: Any = None, headers: dict | None = None):
    status = 400 if status == 422 else status
    body = {"message": message, "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": _param(details), "code": _CODES.get(status, code)}
    rid = getattr(g, "request_id", None)
    resp = jsonify({"error": body})
    resp.status_code = status
    if rid:
        resp.headers["x-request-id"] = rid
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


# A failed job's error code -> the status the client sees (the rest are the provider's failure: 502).
_UPSTREAM_STATUS = {"bad_request": 400, "context_window_exceeded": 400, "rate_limited": 429,
                    "cancelled": 409}


def api_error(exc: DomainError) -> ApiError:
    """A domain error as the ApiError our handlers render (in OpenAI's shape under `/v1`): the status
    `web.errors` gives its class, except a failed job's own error code where OpenAI has a status for it."""
    err = from_domain(exc)
    status = err.status
    if isinstance(exc, UpstreamFailed):
        status = _UPSTREAM_STATUS.get(exc.code or "", 502)
    headers = dict(err.headers)
    if isinstance(exc, (UpstreamFailed, TimedOut)) and not getattr(exc, "retryable", False):
        headers["x-should-retry"] = "false"  # the SDKs would otherwise submit the same work again
    return ApiError(status, exc.message, code=exc.code, details={"param": exc.param}, headers=headers)
