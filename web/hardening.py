"""Security headers on every response, and CORS from an allowlist.

CORS is a dozen lines here rather than flask-cors: we need exact-origin matching against one
setting, an answered preflight before authentication runs, and never
`Access-Control-Allow-Credentials` (tokens travel in the `Authorization` header, not cookies),
which is less than that library's configuration surface to get right.
"""
from __future__ import annotations

from flask import Flask, Response, request

from extensions.ext_settings import settings as settings_of
from web.errors import error_response

# The API serves JSON (and SSE/NDJSON) only, no HTML: nothing of ours may load anything or be framed.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID, Last-Event-ID"
CORS_EXPOSE = "X-Request-ID, Location, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
CORS_MAX_AGE = "600"


def _security_headers(response: Response, production: bool) -> None:
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Cache-Control", "no-store")  # answers carry user data and tokens
    if production:  # HTTPS is terminated in front of us in production; locally it is plain HTTP
        h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def init_app(app: Flask) -> None:
    settings = settings_of(app)
    origins = set(settings.cors_origins)
    any_origin = "*" in origins
    production = settings.environment == "production"

    def allowed(origin: str | None) -> bool:
        return origin is not None and (any_origin or origin.rstrip("/") in origins)

    @app.before_request
    def _preflight():
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        origin = request.headers.get("Origin")
        if not allowed(origin):
            return error_response(403, "forbidden", "origin not allowed")
        resp = Response(status=204)
        resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        resp.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
        return resp

    @app.after_request
    def _headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origins:
            response.headers.add("Vary", "Origin")
            if allowed(origin):
                allow = "*" if any_origin else origin
                response.headers["Access-Control-Allow-Origin"] = allow  # type: ignore[assignment]
                response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
        _security_headers(response, production)
        return response
