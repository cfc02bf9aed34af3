"""The completion task: a thin Celery wrapper around `CompletionRunner`, which tests can call directly.

Exactly-once answers on an at-least-once queue: a delivery first claims the job row (attempt
number + a Redis lease), event writes are fenced by that attempt, and the final write is
conditional on it, with a unique constraint on the answer message's job id.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from celeryconfig import COMPLETIONS_QUEUE
from models import Conversation, Job, Message, now_ms
from models.db import db
from observability import bind_log_context
from providers.base import ChatMessage, CompletionRequest, ProviderError, Usage
from providers.limits import LimitedProvider, ProviderLimiter
from providers.retry import stream_with_retries
from providers.user_keys import job_provider
from realtime.cache import mark_user_changed
from realtime.job_events import JobEventLog, StaleAttempt, event_log_for
from realtime.redis_store import kv
from tasks import plugins as plugin_events
from tasks.chat_batches import settle_parent
from tasks.job_metrics import JobMetrics

log = logging.getLogger(__name__)

_ENQUEUE_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def enqueue_completion(job_id: str) -> None:
    """Publish the task for a committed job (raises if the broker cannot be reached)."""
    run_completion.apply_async(args=[job_id], queue=COMPLETIONS_QUEUE, retry=True, retry_policy=_ENQUEUE_RETRY)


def lease_key(job_id: str) -> str:
    return kv.key("job", job_id, "lease")


def provider_registry(app: Flask):
    from providers.registry import ProviderRegistry

    registry = app.extensions.get("providers")
    if registry is None:
        registry = ProviderRegistry.from_settings(app.extensions["settings"])
        app.extensions["providers"] = registry
    return registry


class _Cancelled(Exception):
    """Raised into the streaming greenlet when a cancel arrives while it waits on the provider."""


class CompletionRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.settings = app.extensions["settings"]
        self.events: JobEventLog = event_log_for(app)
        self.job_metrics: JobMetrics | None = None

    # ---------------------------------------------------------------- claim

    def claim(self, job_id: str) -> tuple[Job, int] | None:
        """Take the job for one attempt, or return None when there is nothing to do."""
        s = db.session()
        try:
            job = s.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
            if job is None or job.is_terminal:
                return None
            if job.status == "running" and kv.r.exists(lease_key(job_id)):
                return None  # a live attempt elsewhere owns it (duplicate delivery)
            if job.cancel_requested:
                self._finish(s, job, job.attempts, "cancelled", result=None, error=None)
                s.commit()
                self._terminal(job_id, job.attempts, "cancelled", {"result": None})
                JobMetrics(job.payload).finished("cancelled")
                return None
            if job.attempts >= self.settings.job_max_attempts:
                err = {"code": "attempts_exhausted",
                       "message": f"gave up after {job.attempts} attempts (worker lost each time)"}
                self._finish(s, job, job.attempts, "failed", result=None, error=err)
                s.commit()
                self._terminal(job_id, job.attempts, "failed", {"error": err})
                JobMetrics(job.payload).finished("failed")
                return None
            job.attempts += 1
            job.status = "running"
            job.started_at = job.started_at or now_ms()
            kv.r.set(lease_key(job_id), job.attempts, ex=self.settings.job_lease_seconds)
            s.commit()
            return job, job.attempts
        finally:
            db.session.remove()

    # ---------------------------------------------------------------- run

    def run(self, job_id: str) -> None:
        bind_log_context(job_id=job_id)
        try:
            self._run(job_id)
        except RedisError as exc:
            # Leave the job as it is: its lease lapses and the reconciler runs it again. Return only
            # once Redis answers, so the broker ack of this delivery goes through (a failed ack
            # keeps the worker's prefetch slot taken for good).
            log.warning("redis unavailable during job %s (%s); leaving it to the reconciler", job_id, exc)
            _wait_for_redis(self.settings.celery_task_time_limit)

    def _run(self, job_id: str) -> None:
        claimed = self.claim(job_id)
        if claimed is None:
            return
        job, attempt = claimed
        bind_log_context(user_id=job.user_id)
        if not self.events.claim(job_id, attempt):
            return
        payload = job.payload
        self.job_metrics = jm = JobMetrics(payload)
        jm.started_running(job)
        log.info("job started: attempt %s, %s/%s", attempt, payload["provider"], payload["model"])
        content: list[str] = []
        usage: Usage | None = None
        state: dict[str, Any] = {"cancelled": False, "streaming": False}
        stop = threading.Event()
        per_job = False
        watchdog = threading.Thread(target=self._watch, args=(job_id, attempt, state, stop, _current_greenlet()),
                                    daemon=True)
        try:
            self.events.append(job_id, attempt, "started", {
                "restarted": attempt > 1, "provider": payload["provider"], "model": payload["model"]})
            watchdog.start()
            provider, model, per_job = job_provider(self.app, provider_registry(self.app), db.session(),
                                                    job.user_id, payload["provider"], payload["model"])
            db.session.remove()
            limited = LimitedProvider(provider, ProviderLimiter.from_app(self.app), lambda: state["cancelled"],
                                      _Cancelled, on_wait=jm.slot_waited)
            request = CompletionRequest(
                model=model,
                messages=[ChatMessage(m["role"], m["content"]) for m in payload["messages"]],
                temperature=payload["temperature"],
                max_tokens=payload["max_tokens"],
                system=payload.get("system"),
                stop=tuple(payload["stop"]) if payload.get("stop") else None,
            )

            def on_retry(err: ProviderError, retry_no: int, had_output: bool) -> None:
                jm.retried(err)
                if had_output:
                    content.clear()
                self.events.append(job_id, attempt, "retry", {
                    "retry": retry_no, "restarted": had_output, "error": {"code": err.code, "message": str(err)}})

            stream = stream_with_retries(limited, request, self.settings, on_retry=on_retry)
            try:
                while True:
                    state["streaming"] = True
                    try:
                        chunk = next(stream)
                    except StopIteration:
                        break
                    finally:
                        state["streaming"] = False
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if chunk.finish_reason:
                        state["finish_reason"] = chunk.finish_reason
                    if chunk.text:
                        jm.token()
                        content.append(chunk.text)
                        _seq, cancel = self.events.append(job_id, attempt, "token", {"text": chunk.text})
                        if cancel:
                            state["cancelled"] = True
                    if state["cancelled"]:
                        break
            except _Cancelled:
                state["cancelled"] = True
            finally:
                stream.close()
            status = "cancelled" if state["cancelled"] else "succeeded"
            self._complete(job, attempt, status, "".join(content), usage, state.get("finish_reason"))
        except StaleAttempt:
            log.info("attempt %s of job %s was superseded; stopping", attempt, job_id)
        except _Cancelled:
            self._complete(job, attempt, "cancelled", "".join(content), usage)
        except ProviderError as exc:
            jm.provider_failed(exc)
            self._fail(job, attempt, {"code": exc.code, "message": str(exc), "provider": exc.provider,
                                      "status": exc.status})
        except RedisError:
            raise
        except SoftTimeLimitExceeded:
            self._fail(job, attempt, {"code": "timeout", "message": "the job ran past its time limit"})
        except Exception:
            log.exception("completion job %s failed unexpectedly", job_id)
            self._fail(job, attempt, {"code": "internal_error", "message": "the job failed unexpectedly"})
        finally:
            stop.set()
            if per_job:
                provider.close()  # the client holding the owner's key goes with the job

    def _watch(self, job_id: str, attempt: int, state: dict, stop: threading.Event, target: Any) -> None:
        """Renew the lease and notice a cancel even while the provider sends nothing."""
        with self.app.app_context():
            self._watch_loop(job_id, attempt, state, stop, target)

    def _watch_loop(self, job_id: str, attempt: int, state: dict, stop: threading.Event, target: Any) -> None:
        renew_every = max(0.5, self.settings.job_lease_seconds / 3)
        next_renew = 0.0
        while not stop.wait(0.25):
            try:
                now = time.monotonic()
                if now >= next_renew:
                    kv.r.set(lease_key(job_id), attempt, ex=self.settings.job_lease_seconds)
                    next_renew = now + renew_every
                if not state["cancelled"] and self.events.cancel_requested(job_id):
                    state["cancelled"] = True
                    if state["streaming"] and target is not None:
                        target.kill(_Cancelled, block=False)  # gevent: interrupt the wait on the provider
            except Exception as exc:  # Redis hiccup: keep watching
                log.warning("watchdog for job %s: %s", job_id, exc)

    # ---------------------------------------------------------------- finish

    @staticmethod
    def _finish(s, job: Job, attempt: int, status: str, result: dict | None, error: dict | None) -> bool:
        ts = now_ms()
        res = s.execute(
            update(Job)
            .where(Job.id == job.id, Job.attempts == attempt, Job.status.in_(("queued", "running")))
            .values(status=status, result=result, error=error, finished_at=ts, updated_at=ts)
        )
        if res.rowcount == 1:
            plugin_events.job_finished(s, job, status, result, error)
        return res.rowcount == 1

    def _complete(self, job: Job, attempt: int, status: str, content: str, usage: Usage | None,
                  finish_reason: str | None = None) -> None:
        payload = job.payload
        result = {
            "content": content,
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens} if usage else None,
            "model": payload["model"],
            "provider": payload["provider"],
        }
        if finish_reason:  # the vendor's own word (`stop`, `length`, `end_turn`, `max_tokens`, ...)
            result["finish_reason"] = finish_reason
        s = db.session()
        try:
            if not self._finish(s, job, attempt, status, result, None):
                s.rollback()
                return
            conv_id = payload.get("conversation_id")
            if conv_id and content:
                ts = now_ms()
                seq = (s.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conv_id)) or 0) + 1
                s.add(Message(conversation_id=conv_id, role="assistant", content=content, model=payload["model"],
                              tokens=usage.output_tokens if usage else None, timestamp=ts, seq=seq, job_id=job.id))
                s.execute(update(Conversation).where(Conversation.id == conv_id).values(updated_at=ts))
                mark_user_changed(s, job.user_id)
            s.commit()
            if self.job_metrics is not None:
                self.job_metrics.finished(status, usage)
        except IntegrityError:  # the answer for this job is already stored
            s.rollback()
            return
        finally:
            db.session.remove()
        self._terminal(job.id, attempt, "completed" if status == "succeeded" else "cancelled", {"result": result})

    def _fail(self, job: Job, attempt: int, error: dict) -> None:
        s = db.session()
        try:
            done = self._finish(s, job, attempt, "failed", None, error)
            s.commit()
        finally:
            db.session.remove()
        if done:
            if self.job_metrics is not None:
                self.job_metrics.finished("failed")
            self._terminal(job.id, attempt, "failed", {"error": error})

    def _terminal(self, job_id: str, attempt: int, type_: str, data: dict) -> None:
        try:
            self.events.append(job_id, attempt, type_, data)
        except StaleAttempt:
            pass
        kv.r.delete(lease_key(job_id))
        settle_parent(self.app, job_id)


def _wait_for_redis(limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            kv.r.ping()
            return
        except RedisError:
            time.sleep(0.5)


def _current_greenlet() -> Any:
    try:
        from gevent import getcurrent
        from gevent.monkey import is_module_patched

        return getcurrent() if is_module_patched("threading") else None
    except ImportError:  # pragma: no cover - gevent is a runtime dependency
        return None


@shared_task(name="tasks.completions.run_completion", ignore_result=True)
def run_completion(job_id: str) -> None:
    CompletionRunner(current_app._get_current_object()).run(job_id)
