"""`/metrics` in Prometheus format, and the HTTP request metrics of every other route.

The scrape sums the files every web and worker process of this host wrote (multiprocess mode),
and adds the Celery queue depth read from the broker at scrape time.
"""
from __future__ import annotations

import hmac
import logging
import time
from typing import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request

from celeryconfig import COMPLETIONS_QUEUE, DEFAULT_QUEUE, queue_lengths
from metrics import UNMATCHED_ROUTE, metrics
from web.errors import ApiError
from web.openapi import endpoint

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)


class QueueDepthCollector:
    """Messages waiting in each Celery queue (LLEN of the broker's lists, under its key prefix)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[object]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"])
        lengths = queue_lengths(self.app.extensions["redis"].r, self.app.extensions["settings"],
                                (COMPLETIONS_QUEUE, DEFAULT_QUEUE))
        for queue, length in lengths.items():
            family.add_metric([queue], length)
        yield family


def _check_token() -> None:
    token = current_app.extensions["settings"].metrics_token
    if not token:
        return
    presented = request.headers.get("Authorization", "")
    if not hmac.compare_digest(presented.encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "a valid metrics token is required", code="unauthorized",
                       headers={"WWW-Authenticate": "Bearer"})


def host_registry(app: Flask):
    """Every process's samples from the shared directory, plus the queue depth."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueDepthCollector(app))
    return registry


def serve_worker_metrics(app: Flask) -> None:
    """The same scrape from a worker, on `WORKER_METRICS_PORT`, for hosts without a web process."""
    from prometheus_client import start_http_server

    settings = app.extensions["settings"]
    if not settings.worker_metrics_port:
        return
    try:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_address,
                          registry=host_registry(app))
    except OSError as exc:  # another worker of this host serves them already: one is enough
        log.info("worker metrics not served by this process (%s)", exc)


@bp.get("/metrics")
@endpoint("Prometheus metrics of every web and worker process of this host (bearer token if `METRICS_TOKEN`)",
          tags=["health"], responses={200: ("text/plain", str)}, auth=False, errors=(401,))
def scrape() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    _check_token()
    return Response(generate_latest(host_registry(current_app._get_current_object())), mimetype=CONTENT_TYPE_LATEST)


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
