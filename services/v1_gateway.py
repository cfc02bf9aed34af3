"""The one seam between the OpenAI-compatible services and the existing job pipeline.

Every call the `/v1` code makes into modules that predate it goes through this file, so when
chat submission, cancel and batches move into `services/`, only these functions change. `/v1`
work is the same `chat` job `POST /api/chat` creates: the same payload, the same Celery task
(`run_completion`), the same event log and relay, the same reconciler.
"""
from __future__ import annotations

from typing import Callable, Iterator

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from models import Job, now_ms
from realtime.job_events import JobEvent, event_log_for
from realtime.relay import follow, notifier_for


def registry(app: Flask):
    """The process's provider registry (built once per app)."""
    from tasks.completions import provider_registry

    return provider_registry(app)


def resolve_provider(app: Flask, s: Session, user_id: str, provider: str | None, model: str | None) -> tuple[str, str]:
    """(provider, model) as `/api/chat` resolves them, the user's own provider keys included."""
    from providers.user_keys import resolve_for_user

    return resolve_for_user(registry(app), s, user_id, provider, model)


def user_key_providers(s: Session, user_id: str) -> set[str]:
    from providers.user_keys import user_key_providers as keys

    return keys(s, user_id)


def enqueue_job(job: Job, undo: Callable[[], object] | None = None) -> None:
    """Publish the task of a committed chat job (503 and the row removed if the broker refuses it)."""
    from tasks.completions import enqueue_completion
    from web.job_wire import enqueue_or_undo

    enqueue_or_undo(job, enqueue_completion, undo=undo)


def enqueue_more(job_id: str) -> None:
    """Publish one more task (batch children after the first); raises if the broker is unreachable."""
    from tasks.completions import enqueue_completion

    enqueue_completion(job_id)


def follow_job(app: Flask, job_id: str, after: int, idle_timeout: float) -> Iterator[JobEvent | None]:
    """The job's events after `after`, live, ending with the terminal one (None while idle)."""
    from web.streams import terminal_from_row

    return follow(event_log_for(app), notifier_for(app), job_id, after, idle_timeout=idle_timeout,
                  finished=terminal_from_row(app, job_id))


def cancel_chat_job(app: Flask, s: Session, job: Job) -> None:
    """Cancel a queued or running chat job, as `POST /api/jobs/<id>/cancel` does."""
    from tasks import plugins as plugin_events
    from tasks.chat_batches import settle_parent

    ts = now_ms()
    events = event_log_for(app)
    cancelled_queued = s.execute(
        update(Job).where(Job.id == job.id, Job.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=ts, updated_at=ts)
    ).rowcount == 1
    if cancelled_queued:
        plugin_events.job_finished(s, job, "cancelled", None, None)
    else:
        s.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True, updated_at=ts))
    s.commit()
    if cancelled_queued:
        events.append(job.id, job.attempts, "cancelled", {"result": None})
        settle_parent(app, job.id)
    else:
        events.request_cancel(job.id)


def chat_batch_kind() -> str:
    from tasks.chat_batches import CHAT_BATCH

    return CHAT_BATCH


def cancel_batch(parent: Job) -> None:
    """Cancel a running batch of chat jobs (queued children at once, running ones by request)."""
    from web.batches import cancel_batch_job

    cancel_batch_job(parent)


def request_counts(s: Session, parent_id: str) -> dict[str, int]:
    from tasks.chat_batches import request_counts as counts

    return counts(s, parent_id)


def enqueue_batch(parent: Job, children: list[Job]) -> None:
    """Publish a committed batch's children as `POST /api/batches` does: the first publish decides
    (503 and nothing left behind if the broker is down); later failures are left to the reconciler."""
    import logging

    from tasks.completions import enqueue_completion
    from web.job_wire import enqueue_or_undo

    enqueue_or_undo(parent, lambda _: enqueue_completion(children[0].id))
    for child in children[1:]:
        try:
            enqueue_completion(child.id)
        except Exception as exc:
            logging.getLogger(__name__).warning("batch %s: job %s left for the reconciler: %s",
                                                parent.id, child.id, exc)


def wait_for_job(app: Flask, s: Session, job_id: str, timeout: float) -> Job | None:
    """Follow the job until it ends or `timeout` passes; the fresh row, or None on timeout.

    The session is closed first: no database connection is held while waiting.
    """
    import time

    deadline = time.monotonic() + timeout
    s.close()
    for event in follow_job(app, job_id, 0, idle_timeout=min(1.0, max(timeout, 0.1))):
        if event is not None and event.terminal:
            break
        if time.monotonic() > deadline:
            return None
    return s.get(Job, job_id, populate_existing=True)
