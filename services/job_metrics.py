"""What one completion job reports to Prometheus: queue wait, time to first token, run time,
final status, tokens, and provider retries and errors by class.

Counted only by the attempt that really finished the job (its conditional final write
succeeded), so a redelivered task never counts a job twice.
"""
from __future__ import annotations

import time

from metrics import metrics
from models import Job, now_ms
from providers.base import ProviderError, Usage


class JobMetrics:
    def __init__(self, payload: dict) -> None:
        self.provider = str(payload.get("provider", ""))
        self.model = str(payload.get("model", ""))
        self.started: float | None = None
        self._first_token_seen = False

    def started_running(self, job: Job) -> None:
        self.started = time.monotonic()
        wait = max(0.0, (now_ms() - job.created_at) / 1000)
        metrics().job_queue_wait.labels(self.provider, self.model).observe(wait)

    def token(self) -> None:
        if not self._first_token_seen and self.started is not None:
            self._first_token_seen = True
            metrics().time_to_first_token.labels(self.provider, self.model).observe(time.monotonic() - self.started)

    def retried(self, err: ProviderError) -> None:
        m = metrics()
        m.provider_retries.labels(self.provider, err.code).inc()
        m.provider_errors.labels(self.provider, err.code).inc()

    def provider_failed(self, err: ProviderError) -> None:
        metrics().provider_errors.labels(self.provider, err.code).inc()

    def slot_waited(self, seconds: float) -> None:
        metrics().provider_slot_wait.labels(self.provider).observe(seconds)

    def finished(self, status: str, usage: Usage | None = None) -> None:
        m = metrics()
        m.jobs.labels(self.provider, self.model, status).inc()
        if self.started is not None:
            m.job_run_time.labels(self.provider, self.model, status).observe(time.monotonic() - self.started)
        if usage is not None:
            m.tokens.labels(self.provider, self.model, "in").inc(usage.input_tokens)
            m.tokens.labels(self.provider, self.model, "out").inc(usage.output_tokens)
