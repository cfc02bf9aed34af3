"""The app's shared objects, each built by one small `init_app` module, in the order listed here.

Every module keeps its object on the app and offers a typed accessor (`ext_redis.store()`,
`ext_jobs.event_log()`, ...), so callers never spell an `app.extensions` key. Web processes and
workers build the same list; `web.create_app` adds the HTTP-only pieces after it.
"""
from __future__ import annotations

from flask import Flask

from extensions import (
    ext_cache,
    ext_celery,
    ext_chat,
    ext_database,
    ext_jobs,
    ext_plugins,
    ext_providers,
    ext_redis,
    ext_settings,
)
from settings import Settings

API_VERSION = "0.1.0"

# Order matters: each module may use the ones before it.
CORE = (ext_database, ext_redis, ext_cache, ext_jobs, ext_providers, ext_chat, ext_plugins, ext_celery)


def create_core_app(settings: Settings, name: str) -> Flask:
    """A Flask app with the shared objects only: what a worker needs; `web.create_app` builds on it."""
    from error_reporting import init_sentry
    from metrics import configure_metrics
    from observability import configure_logging

    configure_metrics(settings)  # before anything imports prometheus_client
    configure_logging(settings.log_level)
    init_sentry(settings, release_default=API_VERSION)
    app = Flask(name)
    app.config["API_VERSION"] = API_VERSION
    ext_settings.init_app(app, settings)
    for module in CORE:
        module.init_app(app)
    return app
