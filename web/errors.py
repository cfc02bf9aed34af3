"""One error envelope for every failure (SPEC §2): `{"error": {"code", "message", "details"?, "requestId"}}`."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, has_request_context, jsonify, request
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from services import errors
from services.errors import DomainError, validation_details

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


class ApiError(Exception):
    """Raised by handlers for an expected failure; rendered as the envelope with `status`."""

    def __init__(self, status: int, message: str, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _HTTP_CODES.get(status, "error")
        self.details = details
        self.headers = headers or {}


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, f"{what} not found")


_DOMAIN_STATUS: dict[type[DomainError], int] = {
    errors.InvalidRequest: 400, errors.Unauthenticated: 401, errors.Forbidden: 403, errors.NotFound: 404,
    errors.Conflict: 409, errors.InvalidInput: 422, errors.UpstreamFailed: 502, errors.Unavailable: 503,
    errors.TimedOut: 504,
}


def from_domain(exc: DomainError) -> ApiError:
    status = next((code for cls, code in _DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return ApiError(status, exc.message, code=exc.code, details=exc.details, headers=headers)


def error_response(status: int, code: str, message: str, details: Any = None, headers: dict | None = None):
    if has_request_context() and request.path.startswith("/v1/"):  # the OpenAI-compatible API's own shape
        from web.v1.errors import openai_error

        return openai_error(status, code, message, details, headers)
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    rid = getattr(g, "request_id", None)
    if rid:
        body["requestId"] = rid
    resp = jsonify({"error": body})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        err = from_domain(exc)
        return error_response(err.status, err.code, err.message, err.details, err.headers)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        return error_response(422, "validation_error", "request validation failed", validation_details(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        message = exc.description or exc.name
        if status == 413:
            message = f"request body larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes"
        return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def _redis_down(exc: Exception):
        log.error("redis unavailable: %s", exc)
        return error_response(503, "service_unavailable", "redis is unavailable", headers={"Retry-After": "5"})

    @app.errorhandler(OperationalError)
    def _db_down(exc: OperationalError):
        log.error("database unavailable: %s", exc.orig)
        return error_response(503, "service_unavailable", "database is unavailable", headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
