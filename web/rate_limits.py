"""HTTP rate limits (Flask-Limiter on Redis, so every web process shares the same counters).

Limits use the moving-window strategy by default: exact, no burst of twice the limit across a
window boundary (`RATELIMIT_STRATEGY` trades that for constant cost on very large limits).
Which limit guards which route is declared here, in one table, rather than on each view. A
breach answers 429 in our error envelope with `Retry-After` and `X-RateLimit-*` headers. If
Redis is unreachable the limiter lets requests through and logs the failure (fail open: an
outage of the limiter's store must not take the API down; the routes that need Redis for
their own work answer 503 anyway).
"""
from __future__ import annotations

from flask import Flask, Response, g, request
from flask_jwt_extended import decode_token
from flask_limiter import Limiter
from werkzeug.middleware.proxy_fix import ProxyFix

from extensions.ext_settings import settings as settings_of
from models.db import db
from realtime.redis_store import blocking_pool
from services.api_keys import KEY_PREFIX as API_KEY_PREFIX
from services.api_keys import user_id_for as api_key_user_id
from web.v1 import CHAT_ENDPOINTS as V1_CHAT_ENDPOINTS

# Never counted against the global default: probes, scrapes and WebSocket upgrades.
EXEMPT_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.scrape", "streams.job_socket"})
CHAT_ENDPOINTS = ("jobs.submit", "jobs.chat_and_wait", "batches.create_batch", *V1_CHAT_ENDPOINTS)


def client_ip() -> str:
    """The peer address; behind `TRUSTED_PROXIES` proxies ProxyFix has already put the client's there."""
    return request.remote_addr or "unknown"


def user_or_ip() -> str:
    """`user:<id>` for a request with a validly signed access token, else `ip:<address>`.

    Only the signature and expiry are checked here (no database or blocklist round trip): that is
    enough to stop a client from spending somebody else's budget; the view still authenticates.
    """
    header = request.headers.get("Authorization", "")
    identity = None
    if header[:7].lower() == "bearer " and header[7:].strip().startswith(API_KEY_PREFIX):
        identity = _api_key_user(header[7:].strip())
    elif header[:7].lower() == "bearer ":
        try:
            identity = decode_token(header[7:].strip()).get("sub")
        except Exception:  # expired or malformed: the view will refuse it; count it by IP
            identity = None
    return f"user:{identity}" if identity else f"ip:{client_ip()}"


def _api_key_user(token: str) -> str | None:
    """The user a personal API key (`/v1`) belongs to, looked up once per request: a key's calls
    count against its owner's budget, the same one their access tokens spend."""
    if "api_key_user" not in g:
        g.api_key_user = api_key_user_id(db.session(), token)
    return g.api_key_user


def login_account() -> str:
    """The account a login names (lower-cased), so guessing one password from many IPs is limited too."""
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip():
        return f"ip:{client_ip()}"  # nothing to key on: the body fails validation anyway
    return "account:" + name.strip().lower()[:320]


def _exempt() -> bool:
    # A socket is counted by its own rules (the chat message rate); its upgrade is not an API call.
    # The console's pages and assets are not API calls either: the API calls they make are counted.
    return request.endpoint in EXEMPT_ENDPOINTS or request.blueprint in ("chat_sockets", "console")


def init_app(app: Flask) -> Limiter:
    """Call after every blueprint is registered: the limited views are wrapped in place."""
    settings = settings_of(app)
    if settings.trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)
    limiter = Limiter(
        key_func=user_or_ip,
        # One budget per client across the whole API (not per route), on top of the route limits below.
        application_limits=[settings.ratelimit_default],
        storage_uri=settings.redis_url,
        storage_options={"key_prefix": settings.redis_key_prefix + "ratelimit", "connection_pool": blocking_pool(
            settings, socket_connect_timeout=2, socket_timeout=2)},
        strategy=settings.ratelimit_strategy,
        headers_enabled=True,
        swallow_errors=True,
        enabled=settings.ratelimit_enabled,
    )
    limiter.request_filter(_exempt)
    _retry_after_on_refusals_only(app, limiter)

    def wrap(endpoint: str, *decorators) -> None:
        view = app.view_functions[endpoint]
        for decorate in decorators:
            view = decorate(view)
        app.view_functions[endpoint] = view

    # One budget for every way of submitting chat work (the scope is shared across the routes).
    chat = limiter.shared_limit(settings.ratelimit_chat, scope="chat", key_func=user_or_ip)
    for endpoint in CHAT_ENDPOINTS:
        wrap(endpoint, chat)
    wrap("auth.login", limiter.limit(settings.ratelimit_login_ip, key_func=client_ip),
         limiter.limit(settings.ratelimit_login_account, key_func=login_account))
    wrap("auth.register", limiter.limit(settings.ratelimit_register_ip, key_func=client_ip))
    # The wrapped views hold the limiter weakly, and a disabled one does not register itself on the
    # app: without this reference it is collected and every limited route fails (RATELIMIT_ENABLED=false).
    app.extensions["rate_limiter"] = limiter
    return limiter


def _retry_after_on_refusals_only(app: Flask, limiter: Limiter) -> None:
    """Flask-Limiter puts `Retry-After` on every answer it counts, a 202 included (a polling client that
    honours it would wait a minute). Only a 429 keeps the limiter's; other answers keep their own.

    after_request hooks run in reverse order of registration: `_restore` (registered before the
    limiter's hook) runs after it, `_remember` (registered after) runs before it.
    """

    @app.after_request
    def _restore(response: Response) -> Response:
        if response.status_code != 429:
            original = g.pop("retry_after_before_limiter", None)
            response.headers.remove("Retry-After")
            if original is not None:
                response.headers["Retry-After"] = original
        return response

    limiter.init_app(app)

    @app.after_request
    def _remember(response: Response) -> Response:
        g.retry_after_before_limiter = response.headers.get("Retry-After")
        return response
