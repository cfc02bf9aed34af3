"""The Flask app factory: the shared objects (`extensions.core`), then the HTTP pieces, in order."""
from __future__ import annotations

from flask import Flask

from settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Flask:
    from extensions.core import create_core_app

    app = create_core_app(settings or get_settings(), __name__)
    _configure(app)
    for init_app in _http_pieces():
        init_app(app)
    return app


def _configure(app: Flask) -> None:
    from extensions.ext_settings import settings

    s = settings(app)
    app.config.update(
        MAX_CONTENT_LENGTH=s.max_content_length,
        # gzip only: every client has it, and it keeps a dependency on brotli/zstd out.
        COMPRESS_ALGORITHM=["gzip"],
        COMPRESS_MIN_SIZE=s.gzip_min_size,
        COMPRESS_MIMETYPES=["application/json", "application/x-ndjson"],
        COMPRESS_STREAMS=True,
        COMPRESS_ALGORITHM_STREAMING=["gzip"],  # the NDJSON export; SSE is never compressed
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]


def _http_pieces() -> list:
    """Each piece's `init_app`, in order: cross-cutting hooks, the routes, then the rate limits
    (which wrap every registered view)."""
    from flask_compress import Compress

    from realtime import chat_sockets, job_socket, sockets
    from web import (
        analytics,
        auth,
        batches,
        console,
        conversations,
        deliveries,
        docs,
        errors,
        hardening,
        health,
        jobs,
        metrics,
        provider_keys,
        rate_limits,
        request_context,
        rooms,
        search,
        security,
        stats,
        streams,
        transfer,
    )

    blueprints = (health.bp, docs.bp, auth.bp, conversations.bp, transfer.bp, search.bp, stats.bp, jobs.bp,
                  streams.bp, batches.bp, rooms.bp, deliveries.bp, provider_keys.bp, analytics.bp,
                  job_socket.bp, chat_sockets.bp, console.bp)
    return [Compress, metrics.init_app, errors.init_app, request_context.init_app, hardening.init_app,
            security.init_app, sockets.init_app, *(lambda app, bp=bp: app.register_blueprint(bp) for bp in blueprints),
            rate_limits.init_app]
