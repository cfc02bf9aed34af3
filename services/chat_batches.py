"""Batches of chat completions (the OpenAI Batch API's shape): a parent job that tracks its children.

The parent (`kind = chat_batch`) has no task of its own: each request is an ordinary `chat` job
with `parent_id` set, run by the completion task within the worker's concurrency and provider
limits. Whenever a child ends, `settle_parent` recounts the children under a row lock on the
parent, stores `progress`, appends a progress event to the parent's stream and, once every child
has ended, finishes the parent. Counting rather than incrementing makes it idempotent: a
redelivered or repeated settle writes the same numbers.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from extensions.ext_jobs import event_log
from models import Job, now_ms
from services import lifecycle, queue
from services.batch_progress import settle_batch
from services.job_status import CHAT_BATCH, UNFINISHED, JobStatus
from services.lifecycle import enqueue_or_undo
from services.queue import RUN_COMPLETION

log = logging.getLogger(__name__)



def submit(s: Session, user_id: str, payloads: list[dict], metadata: dict | None,
           extra: dict[str, Any] | None = None) -> Job:
    """The parent and one chat job per request, committed together, then enqueued (`extra`: more keys
    of the parent's payload, such as what `/v1/batches` echoes back).

    The first publish decides: if the broker is down nothing is left behind (Unavailable). Past
    it, a failed publish leaves that child queued, and the reconciler enqueues it again.
    """
    counts = {"total": len(payloads), "completed": 0, "failed": 0, "cancelled": 0}
    parent = Job(user_id=user_id, kind=CHAT_BATCH, status=JobStatus.RUNNING, started_at=now_ms(),
                 payload={"metadata": metadata, **(extra or {})}, progress=counts)
    s.add(parent)
    s.flush()
    children = [Job(user_id=user_id, kind="chat", status=JobStatus.QUEUED, parent_id=parent.id, payload=p)
                for p in payloads]
    s.add_all(children)
    s.commit()
    enqueue_or_undo(s, parent, RUN_COMPLETION, task_arg=children[0].id)
    for child in children[1:]:
        try:
            queue.send(RUN_COMPLETION, child.id)
        except Exception as exc:
            log.warning("batch %s: job %s left for the reconciler: %s", parent.id, child.id, exc)
    return parent


def children_of(s: Session, parent_id: str) -> list[Job]:
    return sorted(s.scalars(select(Job).where(Job.parent_id == parent_id)), key=lambda j: j.payload["batch_index"])


def _cancel_children(s: Session, parent: Job) -> list[str]:
    """Cancel every unfinished child (queued ones at once, running ones by request); caller commits.

    Returns the ids of the children cancelled while still queued, whose terminal events the
    caller appends after committing.
    """
    ts = now_ms()
    parent.cancel_requested = True
    queued = list(s.scalars(select(Job.id).where(Job.parent_id == parent.id, Job.status == "queued")))
    if queued:
        s.execute(update(Job).where(Job.id.in_(queued), Job.status == "queued")
                  .values(status="cancelled", cancel_requested=True, finished_at=ts, updated_at=ts))
    running = list(s.scalars(select(Job.id).where(Job.parent_id == parent.id,
                                                  Job.status.in_(UNFINISHED))))
    if running:
        s.execute(update(Job).where(Job.id.in_(running)).values(cancel_requested=True, updated_at=ts))
        events = event_log()
        for job_id in running:
            events.request_cancel(job_id)
    return queued


def cancel_batch(s: Session, parent: Job) -> None:
    """Cancel a running batch: queued requests at once, running ones within about a second."""
    cancelled = _cancel_children(s, parent)
    s.commit()
    for job_id in cancelled:
        lifecycle.append_event(job_id, 0, "cancelled", {"result": None})
    settle_batch(parent.id)
