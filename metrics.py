"""Every Prometheus metric of the web app and the worker, defined in one place.

prometheus_client runs in multiprocess mode: each gunicorn worker and each Celery worker
process writes its samples to files under `PROMETHEUS_MULTIPROC_DIR`, and `/metrics` in any web
process sums them all. The library picks its storage when it is first imported, so
`configure_metrics` must run before anything imports it; the metrics themselves are built on
first use (`metrics()`), never at import time.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from settings import Settings

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"
# Latency buckets, seconds: API calls are milliseconds, completions and queue waits are seconds to minutes.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


def metrics_dir(settings: Settings) -> Path:
    return Path(settings.prometheus_multiproc_dir).resolve()


def configure_metrics(settings: Settings) -> None:
    """Point prometheus_client at the shared directory (before its first import in this process)."""
    path = metrics_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        # Imported already (the `celery` command loads Flower's plugin, and with it prometheus_client,
        # before our app): it chose in-memory storage then. Our metrics are built later, on first use,
        # and take the value class from this module attribute, so choosing again here is enough.
        values.ValueClass = values.get_value_class()


def reset_metrics_dir(settings: Settings) -> None:
    """Empty the directory; only before any process of this host starts (a fresh deploy or `dev.py run`)."""
    path = metrics_dir(settings)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Metrics:
    http_requests: Any
    http_duration: Any
    jobs: Any
    job_queue_wait: Any
    job_run_time: Any
    time_to_first_token: Any
    tokens: Any
    provider_retries: Any
    provider_errors: Any
    provider_slot_wait: Any
    open_websockets: Any
    plugin_failures: Any


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The process's metric objects, created on first use."""
    global _metrics
    if _metrics is None:
        from prometheus_client import Counter, Gauge, Histogram

        _metrics = Metrics(
            http_requests=Counter("http_requests_total", "HTTP requests answered",
                                  ["method", "route", "status"]),
            http_duration=Histogram("http_request_duration_seconds", "Time to answer an HTTP request "
                                    "(to the first byte for streams)", ["method", "route", "status"],
                                    buckets=HTTP_BUCKETS),
            jobs=Counter("jobs_total", "Completion jobs finished, by final status",
                         ["provider", "model", "status"]),
            job_queue_wait=Histogram("job_queue_wait_seconds", "From job creation to a worker starting it",
                                     ["provider", "model"], buckets=JOB_BUCKETS),
            job_run_time=Histogram("job_run_seconds", "From a worker starting a job to its final status",
                                   ["provider", "model", "status"], buckets=JOB_BUCKETS),
            time_to_first_token=Histogram("job_time_to_first_token_seconds",
                                          "From a worker starting a job to the first token",
                                          ["provider", "model"], buckets=JOB_BUCKETS),
            tokens=Counter("llm_tokens_total", "Tokens reported by the provider", ["provider", "model", "direction"]),
            provider_retries=Counter("provider_retries_total", "Provider calls retried, by error class",
                                     ["provider", "error"]),
            provider_errors=Counter("provider_errors_total", "Provider errors (retried or final), by error class",
                                    ["provider", "error"]),
            provider_slot_wait=Histogram("provider_slot_wait_seconds", "Time a call waited for the provider "
                                         "budget (concurrency / requests per minute)", ["provider"],
                                         buckets=JOB_BUCKETS),
            open_websockets=Gauge("websocket_connections", "Open WebSocket connections", multiprocess_mode="livesum"),
            plugin_failures=Counter("chat_plugin_failures_total", "Plugin hook calls that raised or timed out",
                                    ["plugin", "hook"]),
        )
    return _metrics


def mark_process_dead(settings: Settings, pid: int) -> None:
    """Drop a finished process's live gauges (gunicorn `child_exit`, worker shutdown)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(metrics_dir(settings)))


class QueueDepthCollector:
    """Messages waiting in each Celery queue (LLEN of the broker's lists, under its key prefix)."""

    def __init__(self, redis_client: Any, settings: Settings) -> None:
        self.redis_client = redis_client
        self.settings = settings

    def collect(self) -> Iterator[object]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"])
        from celeryconfig import COMPLETIONS_QUEUE, DEFAULT_QUEUE, queue_lengths

        lengths = queue_lengths(self.redis_client, self.settings, (COMPLETIONS_QUEUE, DEFAULT_QUEUE))
        for queue, length in lengths.items():
            family.add_metric([queue], length)
        yield family


def host_registry(redis_client: Any, settings: Settings):
    """Every process's samples from the shared directory, plus the queue depth."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueDepthCollector(redis_client, settings))
    return registry


def serve_worker_metrics(redis_client: Any, settings: Settings) -> None:
    """The same scrape from a worker, on `WORKER_METRICS_PORT`, for hosts without a web process."""
    from prometheus_client import start_http_server

    if not settings.worker_metrics_port:
        return
    try:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_address,
                          registry=host_registry(redis_client, settings))
    except OSError as exc:  # another worker of this host serves them already: one is enough
        log.info("worker metrics not served by this process (%s)", exc)
