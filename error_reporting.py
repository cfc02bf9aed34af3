"""Sentry for the web app and the worker, on only when `SENTRY_DSN` is set.

What reaches Sentry: unhandled exceptions of routes (our 500 handler logs them with the
traceback, which Sentry's logging integration turns into an event carrying the request) and of
Celery tasks, plus anything logged at ERROR. Expected outcomes are dropped in `before_send`:
4xx answers, provider errors (they are the vendor's, retried or reported on the job) and
Celery's `Retry`.
"""
from __future__ import annotations

import logging
from typing import Any

from settings import Settings

log = logging.getLogger(__name__)
_initialised_dsn: str | None = None


def _expected(exc: BaseException) -> bool:
    import sys

    from celery.exceptions import Retry
    from werkzeug.exceptions import HTTPException

    from providers.base import ProviderError
    from services.errors import DomainError, TimedOut, Unavailable, UpstreamFailed

    # An ApiError exists only where the web layer is loaded: look it up rather than import it (a
    # worker never loads `web`, and Celery takes the project directory off sys.path after start-up).
    web_errors = sys.modules.get("web.errors")
    if web_errors is not None and isinstance(exc, web_errors.ApiError):
        return exc.status < 500
    if isinstance(exc, HTTPException):
        return (exc.code or 500) < 500
    if isinstance(exc, DomainError):
        return not isinstance(exc, (Unavailable, UpstreamFailed, TimedOut))  # the 5xx ones are reported
    return isinstance(exc, (Retry, ProviderError))


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    exc_info = hint.get("exc_info")
    if exc_info and exc_info[1] is not None and _expected(exc_info[1]):
        return None
    return event


def init_sentry(settings: Settings, release_default: str) -> bool:
    """Initialise the SDK once per process; returns whether Sentry is on."""
    global _initialised_dsn
    if not settings.sentry_dsn:
        return False
    if _initialised_dsn == settings.sentry_dsn:
        return True
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        release=settings.sentry_release or release_default,
        environment=settings.sentry_environment or settings.environment,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        integrations=[FlaskIntegration(), CeleryIntegration()],
        before_send=before_send,
        send_default_pii=False,  # no request bodies, cookies or user IPs leave the host
    )
    _initialised_dsn = settings.sentry_dsn
    log.info("sentry reporting on (environment %s)", settings.sentry_environment or settings.environment)
    return True
