"""`/metrics` in Prometheus format, and the HTTP request metrics of every other route.

The scrape sums the files every web and worker process of this host wrote (multiprocess mode),
and adds the Celery queue depth read from the broker at scrape time.
"""
from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, Flask, Response, g, request

from extensions.ext_settings import settings
from metrics import UNMATCHED_ROUTE, host_registry, metrics
from realtime.redis_store import kv
from web.errors import ApiError
from web.openapi import endpoint

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)


def _check_token() -> None:
    token = settings().metrics_token
    if not token:
        return
    presented = request.headers.get("Authorization", "")
    if not hmac.compare_digest(presented.encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "a valid metrics token is required", code="unauthorized",
                       headers={"WWW-Authenticate": "Bearer"})


@bp.get("/metrics")
@endpoint("Prometheus metrics of every web and worker process of this host (bearer token if `METRICS_TOKEN`)",
          tags=["health"], responses={200: ("text/plain", str)}, auth=False, errors=(401,))
def scrape() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    _check_token()
    return Response(generate_latest(host_registry(kv.r, settings())), mimetype=CONTENT_TYPE_LATEST)


def route_label() -> str:
    """The route template (`/api/jobs/<job_id>`), never the raw path: bounded label values."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def init_app(app: Flask) -> None:
    m = metrics()
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None and request.endpoint != "metrics.scrape":
            labels = (request.method, route_label(), str(response.status_code))
            m.http_requests.labels(*labels).inc()
            m.http_duration.labels(*labels).observe(time.perf_counter() - started)
        return response
