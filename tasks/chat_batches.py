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

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import TERMINAL_STATUSES, Job, now_ms
from models.db import db
from realtime.job_events import StaleAttempt, event_log_for

log = logging.getLogger(__name__)

CHAT_BATCH = "chat_batch"


def request_counts(s: Session, parent_id: str) -> dict[str, int]:
    by_status = dict(s.execute(select(Job.status, func.count()).where(Job.parent_id == parent_id)
                               .group_by(Job.status)).all())
    return {
        "total": sum(by_status.values()),
        "completed": by_status.get("succeeded", 0),
        "failed": by_status.get("failed", 0),
        "cancelled": by_status.get("cancelled", 0),
    }


def settle_parent(app: Flask, child_id: str) -> None:
    """Bring the child's batch, if it has one, up to date with its children's states."""
    parent_id = db.session.scalar(select(Job.parent_id).where(Job.id == child_id))
    if parent_id is not None:
        settle_batch(app, parent_id)
    else:
        db.session.remove()


def settle_batch(app: Flask, parent_id: str) -> None:
    s = db.session()
    try:
        parent = s.execute(select(Job).where(Job.id == parent_id).with_for_update()).scalar_one_or_none()
        if parent is None or parent.is_terminal:
            return
        counts = request_counts(s, parent_id)
        ended = counts["completed"] + counts["failed"] + counts["cancelled"]
        values: dict[str, Any] = {"progress": counts, "updated_at": now_ms()}
        if ended == counts["total"]:
            values.update(status="cancelled" if parent.cancel_requested else "succeeded", finished_at=now_ms(),
                          result={"request_counts": counts})
        s.execute(update(Job).where(Job.id == parent_id).values(**values))
        # Appended while the parent row is locked, so progress events arrive in count order.
        _event(app, parent_id, "progress", {"request_counts": counts})
        if "status" in values:
            _event(app, parent_id, "completed" if values["status"] == "succeeded" else "cancelled",
                   {"result": values["result"]})
        s.commit()
    finally:
        db.session.remove()


def _event(app: Flask, job_id: str, type_: str, data: dict) -> None:
    try:
        event_log_for(app).append(job_id, 0, type_, data)
    except StaleAttempt:  # pragma: no cover - the parent's log is only ever written at attempt 0
        pass


def cancel_children(app: Flask, s: Session, parent: Job) -> list[str]:
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
                                                  Job.status.not_in(TERMINAL_STATUSES))))
    if running:
        s.execute(update(Job).where(Job.id.in_(running)).values(cancel_requested=True, updated_at=ts))
        events = event_log_for(app)
        for job_id in running:
            events.request_cancel(job_id)
    return queued
