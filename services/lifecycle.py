"""The one job lifecycle: commit-then-enqueue, claim, lease, fence, conditional finish, the terminal
event and cancel (the statuses, their event names and the job kinds are in `job_status.py`).

Exactly-once answers on an at-least-once queue: a delivery first claims the job row (attempt
number + a Redis lease), event writes are fenced by that attempt, and the final write is
conditional on it. A terminal event is always published, also on failure and cancel, so no
client waits forever.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from flask import Flask
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from extensions.ext_jobs import event_log
from extensions.ext_settings import settings
from models import Job, now_ms
from models.db import db
from realtime.job_events import JobEvent
from realtime.redis_store import kv
from services import plugin_events, queue, webhooks
from services.batch_progress import settle_batch
from services.errors import Unavailable
from services.job_status import (
    KINDS,
    TERMINAL_EVENT,
    UNFINISHED,
    JobStatus,
    append_event,
    terminal_data,
)

log = logging.getLogger(__name__)


def lease_key(job_id: str) -> str:
    return event_log().lease_key(job_id)


def renew_lease(job_id: str, attempt: int) -> None:
    kv.r.set(lease_key(job_id), attempt, ex=settings().job_lease_seconds)


# ---------------------------------------------------------------- enqueue

def enqueue_or_undo(s: Session, job: Job, task: str, undo=None, task_arg: str | None = None,
                    extra: tuple = ()) -> None:
    """Publish the task of a committed job (its id, or `task_arg`, then `extra`); if the broker
    cannot take it, remove the job (and whatever `undo` removes) and raise Unavailable, so no job
    is left queued with no task behind it."""
    try:
        queue.send(task, task_arg or job.id, *extra)
    except Exception as exc:
        log.error("could not enqueue job %s: %s", job.id, exc)
        if undo is not None:
            undo()
        s.execute(delete(Job).where(Job.id == job.id))
        s.commit()
        raise Unavailable("the job queue is unavailable; try again", code="queue_unavailable",
                          retry_after=5) from None


# ---------------------------------------------------------------- claim

Exhausted = Callable[[Session, Job], None]


def claim(job_id: str, kinds: tuple[str, ...], *, cancel_at_claim: bool = True,
          before_giving_up: Exhausted | None = None,
          on_end: Callable[[Job, JobStatus], None] | None = None) -> tuple[Job, int] | None:
    """Take the job for one attempt (row lock, attempt number, lease), or None when there is
    nothing to do: unknown or finished, owned by a live attempt elsewhere, cancelled, or out of attempts."""
    s = db.session()
    try:
        if (claimed := _claim_queued(s, job_id, kinds)) is not None:
            return claimed
        job = s.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
        if job is None:
            log.warning("no job %s: the task has nothing to run", job_id)
            return None
        if job.is_terminal or job.kind not in kinds:
            return None
        if job.status == JobStatus.RUNNING and kv.r.exists(lease_key(job_id)):
            return None  # a live attempt elsewhere owns it (duplicate delivery)
        if cancel_at_claim and job.cancel_requested:
            _end_at_claim(s, job, JobStatus.CANCELLED, None, on_end)
            return None
        if job.attempts >= settings().job_max_attempts:
            if before_giving_up is not None:
                before_giving_up(s, job)
            _end_at_claim(s, job, JobStatus.FAILED, {
                "code": "attempts_exhausted",
                "message": f"gave up after {job.attempts} attempts (worker lost each time)"}, on_end)
            return None
        job.attempts += 1
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now_ms()
        renew_lease(job_id, job.attempts)
        s.commit()
        return job, job.attempts
    finally:
        db.session.remove()


def _claim_queued(s: Session, job_id: str, kinds: tuple[str, ...]) -> tuple[Job, int] | None:
    """The common case in one statement (the row lock comes with the UPDATE): a queued job, not
    cancelled, with attempts left. Anything else goes the long way, through the checks above."""
    job = s.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.kind.in_(kinds),
                          Job.cancel_requested.is_(False), Job.attempts < settings().job_max_attempts)
        .values(attempts=Job.attempts + 1, status=JobStatus.RUNNING,
                started_at=func.coalesce(Job.started_at, now_ms()))
        .returning(Job)).scalar_one_or_none()
    if job is None:
        return None
    renew_lease(job_id, job.attempts)
    s.commit()
    return job, job.attempts


def _end_at_claim(s: Session, job: Job, status: JobStatus, error: dict | None,
                  on_end: Callable[[Job, JobStatus], None] | None) -> None:
    final = finish(s, job, job.attempts, status, None, error)
    s.commit()
    publish_terminal(job, job.attempts, status, None, error, final.webhooks)
    if on_end is not None:
        on_end(job, status)


# ---------------------------------------------------------------- finish

@dataclass(frozen=True)
class FinalWrite:
    """What the final write did: whether it ended the job (`bool(final)`), and how many webhook
    deliveries it put in the outbox (most jobs none, and then nothing needs dispatching)."""

    done: bool
    webhooks: int = 0

    def __bool__(self) -> bool:
        return self.done


def finish(s: Session, job: Job, attempt: int, status: JobStatus, result: dict | None,
           error: dict | None) -> FinalWrite:
    """The conditional final write: only the attempt that owns an unfinished job may end it.
    The caller commits (with whatever else belongs to the same transaction)."""
    ts = now_ms()
    res = s.execute(
        update(Job).where(Job.id == job.id, Job.attempts == attempt, Job.status.in_(UNFINISHED))
        .values(status=status, result=result, error=error, finished_at=ts, updated_at=ts))
    if res.rowcount != 1:
        return FinalWrite(False)
    kind = KINDS.get(job.kind)
    return FinalWrite(True, _record_end(s, job, status, result, error,
                                        plugins=kind is None or kind.reports_to_plugins))


def _record_end(s: Session, job: Job, status: JobStatus, result: dict | None, error: dict | None, *,
                plugins: bool) -> int:
    """What a job's end owes others, in the transaction of its final write: the plugin event and the
    webhook outbox rows (how many it wrote)."""
    if plugins:
        plugin_events.job_finished(s, job, status, result, error)
    return webhooks.record_job_end(s, job, status, result)


def publish_terminal(job: Job, attempt: int, status: JobStatus, result: dict | None, error: dict | None,
                     webhooks_recorded: int) -> None:
    """After the final commit: the terminal event, the lease let go, the webhook deliveries the final
    write recorded sent now (most jobs have none, and are spared the look for them), and the batch
    (if any) settled."""
    append_event(job.id, attempt, TERMINAL_EVENT[status], terminal_data(status, result, error))
    kv.r.delete(lease_key(job.id))
    if webhooks_recorded:
        webhooks.dispatch(job.id)
    if job.parent_id is not None:  # a batch's children are chat jobs: bring the batch up to date
        settle_batch(job.parent_id)


# ---------------------------------------------------------------- cancel

def cancel(job: Job) -> None:
    """Cancel a queued job at once, or ask its running attempt to stop (it sees the flag within ~1 s)."""
    s = db.session
    ts = now_ms()
    cancelled_queued = s.execute(
        update(Job).where(Job.id == job.id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=ts, updated_at=ts)
    ).rowcount == 1
    recorded = 0
    if cancelled_queued:
        recorded = _record_end(s, job, JobStatus.CANCELLED, None, None, plugins=True)
    else:
        s.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True, updated_at=ts))
    s.commit()
    if cancelled_queued:
        publish_terminal(job, job.attempts, JobStatus.CANCELLED, None, None, recorded)
    else:
        event_log().request_cancel(job.id)


# ---------------------------------------------------------------- reading the end from the row

def terminal_from_row(app: Flask, job_id: str) -> Callable[[int], JobEvent | None]:
    """A terminal event built from the job row, for a log that never received one (Redis was
    unreachable at the very end of the job)."""

    def finished(next_seq: int) -> JobEvent | None:
        with app.app_context():
            job = db.session.get(Job, job_id)
            db.session.remove()
        if job is None or not job.is_terminal:
            return None
        status = JobStatus(job.status)
        return JobEvent(next_seq, TERMINAL_EVENT[status], job.attempts, terminal_data(status, job.result, job.error))

    return finished
