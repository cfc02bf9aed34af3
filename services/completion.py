"""Running one completion job: claim, stream from the provider with retries, store the answer.

The steps, in order: `claim` the row for an attempt; fence the event log to it; `started`;
pick the adapter (the owner's own key or the server's); stream through the provider budget and
the retry policy, appending each token; then the conditional final write with the assistant
message, and the terminal event. A cancel reaches the stream through the job's `CancelToken`,
set by the process's watchdog.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from extensions import ext_jobs, ext_providers
from extensions.ext_settings import settings
from models import Conversation, Job, Message, now_ms
from models.db import db
from observability import bind_log_context
from providers.base import CancelToken, ChatMessage, CompletionRequest, Provider, ProviderError, Usage
from providers.limits import LimitedProvider
from providers.retry import stream_with_retries
from realtime.cache import mark_user_changed
from realtime.job_events import LogLost, StaleAttempt
from realtime.redis_store import kv
from services import lifecycle
from services.early_start import EarlyStream, start_early
from services.job_metrics import JobMetrics
from services.job_status import CHAT, JobStatus
from services.provider_keys import job_provider

log = logging.getLogger(__name__)


@dataclass
class _Answer:
    """What the stream produced so far (a retry after output starts it over)."""

    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None  # the vendor's own word (`stop`, `length`, `end_turn`, ...)
    events: int = 0  # events this attempt wrote, numbering its writes so a retried one is not doubled

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _metrics_on_end(job: Job, status: JobStatus) -> None:
    JobMetrics(job.payload).finished(status)


class CompletionRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.settings = settings(app)
        self.events = ext_jobs.event_log(app)
        self.watch = ext_jobs.job_watch(app)

    def run(self, job_id: str, hint: object = None) -> None:
        """Run one delivery of the job; `hint` is the request a fresh task carries (see `early_start`)."""
        bind_log_context(job_id=job_id)
        early = start_early(self.app, hint, _request) if hint is not None else None
        try:
            claimed = lifecycle.claim(job_id, (CHAT,), on_end=_metrics_on_end)
            if early is not None and claimed is not None and not early.serves(claimed[0]):
                log.warning("job %s: its row asks for another request than its task; not using the early stream",
                            job_id)
                early.end()
                early = None
            if claimed is not None and self.events.claim(job_id, claimed[1]):
                self._run_attempt(*claimed, early)
        except RedisError as exc:
            # Leave the job as it is: its lease lapses and the reconciler runs it again. Return only
            # once Redis answers, so the broker ack of this delivery goes through (a failed ack
            # keeps the worker's prefetch slot taken for good).
            log.warning("redis unavailable during job %s (%s); leaving it to the reconciler", job_id, exc)
            _wait_for_redis(self.settings.celery_task_time_limit)
        finally:
            if early is not None:
                early.end()  # cuts it if no attempt read it to the end; closes the owner's key either way

    def _run_attempt(self, job: Job, attempt: int, early: EarlyStream | None = None) -> None:
        bind_log_context(user_id=job.user_id)
        metrics = JobMetrics(job.payload)
        metrics.started_running(job)
        token = self.watch.watch(job.id, attempt, early.cancel if early is not None else None)
        answer = _Answer()
        try:
            self._stream(job, attempt, token, metrics, answer, early)
            status = JobStatus.CANCELLED if token.cancelled else JobStatus.SUCCEEDED
            self._complete(job, attempt, status, answer, metrics)
        except StaleAttempt:
            log.info("attempt %s of job %s was superseded; stopping", attempt, job.id)
        except ProviderError as exc:
            metrics.provider_failed(exc)
            self._fail(job, attempt, {"code": exc.code, "message": str(exc), "provider": exc.provider,
                                      "status": exc.status}, metrics)
        except RedisError:
            raise
        except SoftTimeLimitExceeded:
            self._fail(job, attempt, {"code": "timeout", "message": "the job ran past its time limit"}, metrics)
        except Exception:
            log.exception("completion job %s failed unexpectedly", job.id)
            self._fail(job, attempt, {"code": "internal_error", "message": "the job failed unexpectedly"}, metrics)
        finally:
            self.watch.unwatch(job.id)

    def _stream(self, job: Job, attempt: int, token: CancelToken, metrics: JobMetrics, answer: _Answer,
                early: EarlyStream | None) -> None:
        payload = job.payload
        log.info("job started: attempt %s, %s/%s%s", attempt, payload["provider"], payload["model"],
                 " (vendor call opened at delivery)" if early is not None else "")
        self.events.append(job.id, attempt, "started", {
            "restarted": attempt > 1, "provider": payload["provider"], "model": payload["model"]})
        if early is not None:  # `run` closes it (and the owner's key it may hold)
            provider, model, per_job = early.provider, early.model, False
        else:
            provider, model, per_job = self._provider(job)
        try:
            limited = LimitedProvider(provider, ext_providers.limiter(self.app), on_wait=metrics.slot_waited)

            def on_retry(err: ProviderError, retry_no: int, had_output: bool) -> None:
                metrics.retried(err)
                if had_output:
                    answer.parts.clear()
                self._append(job, attempt, answer, "retry", {
                    "retry": retry_no, "restarted": had_output, "error": {"code": err.code, "message": str(err)}})

            for chunk in stream_with_retries(limited, _request(payload, model), ext_providers.retries(self.app),
                                             on_retry=on_retry, sleep=token.wait, cancel=token,
                                             first=early.stream if early is not None else None):
                if chunk.usage is not None:
                    answer.usage = chunk.usage
                if chunk.finish_reason:
                    answer.finish_reason = chunk.finish_reason
                if chunk.text:
                    metrics.token()
                    if self._append(job, attempt, answer, "token", {"text": chunk.text}):
                        token.cancel()
                    answer.parts.append(chunk.text)
        finally:
            if per_job:
                provider.close()  # the client holding the owner's key goes with the job

    def _append(self, job: Job, attempt: int, answer: _Answer, type_: str, data: dict) -> bool:
        """Append an event of the running attempt; returns whether a cancel was requested.

        If Redis lost the log meanwhile, the new log first gets what the lost one held for this
        attempt (`started` and the text so far), so a client that follows it from the start sees
        the whole answer."""
        answer.events += 1
        number = answer.events
        try:
            try:
                return self.events.append(job.id, attempt, type_, data, continuing=True, number=number)[1]
            except (RedisConnectionError, RedisTimeoutError):  # a restart: wait for it, then go on writing
                log.warning("redis unavailable while job %s streams; waiting for it", job.id)
                _wait_for_redis(self.settings.job_lease_seconds)
                return self.events.append(job.id, attempt, type_, data, continuing=True, number=number)[1]
        except LogLost:
            log.warning("event log of job %s was lost; writing attempt %s's text so far again", job.id, attempt)
            self.events.append(job.id, attempt, "started", {
                "restarted": attempt > 1, "resumed": True, "provider": job.payload["provider"],
                "model": job.payload["model"]})
            if answer.parts:
                self.events.append(job.id, attempt, "token", {"text": answer.text})
            return self.events.append(job.id, attempt, type_, data, number=number)[1]

    def _provider(self, job: Job) -> tuple[Provider, str, bool]:
        return job_provider(self.app, job.user_id, job.payload["provider"], job.payload["model"])

    # ---------------------------------------------------------------- finish

    def _complete(self, job: Job, attempt: int, status: JobStatus, answer: _Answer, metrics: JobMetrics) -> None:
        payload = job.payload
        usage = answer.usage
        result = {
            "content": answer.text,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens} if usage else None,
            "model": payload["model"],
            "provider": payload["provider"],
        }
        if answer.finish_reason:
            result["finish_reason"] = answer.finish_reason
        s = db.session()
        try:
            final = lifecycle.finish(s, job, attempt, status, result, None)
            if not final:
                s.rollback()
                return
            _store_answer(s, job, answer)
            s.commit()
        except IntegrityError:  # the answer for this job is already stored
            s.rollback()
            return
        finally:
            db.session.remove()
        metrics.finished(status, usage)
        lifecycle.publish_terminal(job, attempt, status, result, None, final.webhooks)

    def _fail(self, job: Job, attempt: int, error: dict, metrics: JobMetrics) -> None:
        s = db.session()
        try:
            final = lifecycle.finish(s, job, attempt, JobStatus.FAILED, None, error)
            s.commit()
        finally:
            db.session.remove()
        if final:
            metrics.finished(JobStatus.FAILED)
            lifecycle.publish_terminal(job, attempt, JobStatus.FAILED, None, error, final.webhooks)


def _request(payload: dict, model: str) -> CompletionRequest:
    return CompletionRequest(
        model=model,
        messages=[ChatMessage(m["role"], m["content"]) for m in payload["messages"]],
        temperature=payload["temperature"],
        max_tokens=payload["max_tokens"],
        system=payload.get("system"),
        stop=tuple(payload["stop"]) if payload.get("stop") else None,
    )


def _store_answer(s, job: Job, answer: _Answer) -> None:
    """The assistant message, in the same transaction as the final write (unique per job)."""
    conv_id = job.payload.get("conversation_id")
    if not conv_id or not answer.parts:
        return
    ts = now_ms()
    seq = (s.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conv_id)) or 0) + 1
    s.add(Message(conversation_id=conv_id, role="assistant", content=answer.text, model=job.payload["model"],
                  tokens=answer.usage.output_tokens if answer.usage else None, timestamp=ts, seq=seq,
                  job_id=job.id))
    s.execute(update(Conversation).where(Conversation.id == conv_id).values(updated_at=ts))
    mark_user_changed(s, job.user_id)


def _wait_for_redis(limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            kv.r.ping()
            return
        except RedisError:
            time.sleep(0.5)
