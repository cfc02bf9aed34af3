"""The Flask app factory: extensions are initialised in order, each by its own `init_app`."""
from __future__ import annotations

from flask import Flask

from settings import Settings, get_settings

API_VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    from metrics import configure_metrics

    configure_metrics(settings)  # before anything imports prometheus_client

    from flask_compress import Compress

    from error_reporting import init_sentry
    from models.db import Database
    from observability import configure_logging, init_celery_context
    from realtime.cache import ResponseCache
    from realtime.redis_store import RedisStore
    from tasks.celery_app import celery_init_app
    from tasks.plugins import PluginDispatcher
    from web import (
        analytics,
        api_keys,
        auth,
        batches,
        chat_sockets,
        conversations,
        deliveries,
        docs,
        errors,
        hardening,
        health,
        jobs,
        metrics,
        rate_limits,
        provider_keys,
        request_context,
        rooms,
        search,
        security,
        stats,
        streams,
        transfer,
        v1,
    )

    configure_logging(settings.log_level)
    init_sentry(settings, release_default=API_VERSION)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        API_VERSION=API_VERSION,
        # gzip only: every client has it, and it keeps a dependency on brotli/zstd out.
        COMPRESS_ALGORITHM=["gzip"],
        COMPRESS_MIN_SIZE=settings.gzip_min_size,
        COMPRESS_MIMETYPES=["application/json", "application/x-ndjson"],
        COMPRESS_STREAMS=True,
        COMPRESS_ALGORITHM_STREAMING=["gzip"],  # the NDJSON export; SSE is never compressed
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["settings"] = settings

    Database().init_app(app)
    RedisStore().init_app(app)
    ResponseCache().init_app(app)
    PluginDispatcher().init_app(app)
    Compress(app)
    for ext in (metrics, errors, request_context, hardening, security):
        ext.init_app(app)
    init_celery_context(celery_init_app(app))
    for blueprint in (health.bp, docs.bp, auth.bp, conversations.bp, transfer.bp, search.bp, stats.bp, jobs.bp,
                      batches.bp, rooms.bp, deliveries.bp, provider_keys.bp, analytics.bp, api_keys.bp):
        app.register_blueprint(blueprint)
    v1.init_app(app)  # the OpenAI-compatible API
    streams.init_app(app)
    chat_sockets.init_app(app)
    rate_limits.init_app(app)  # wraps registered views: after every blueprint
    return app
