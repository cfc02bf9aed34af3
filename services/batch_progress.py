"""How a batch of completions follows its children: whenever a child ends, `settle_batch` recounts
them under a row lock on the parent, stores `progress`, appends a progress event to the parent's
stream and, once every child has ended, finishes the parent. Counting rather than incrementing
makes it idempotent: a redelivered or repeated settle writes the same numbers."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Job, now_ms
from models.db import db
from services import webhooks
from services.job_status import TERMINAL_EVENT, JobStatus, append_event


def request_counts(s: Session, parent_id: str) -> dict[str, int]:
    by_status = dict(s.execute(select(Job.status, func.count()).where(Job.parent_id == parent_id)
                               .group_by(Job.status)).all())
    return {
        "total": sum(by_status.values()),
        "completed": by_status.get("succeeded", 0),
        "failed": by_status.get("failed", 0),
        "cancelled": by_status.get("cancelled", 0),
    }


def settle_batch(parent_id: str) -> None:
    s = db.session()
    try:
        parent = s.execute(select(Job).where(Job.id == parent_id).with_for_update()).scalar_one_or_none()
        if parent is None or parent.is_terminal:
            return
        counts = request_counts(s, parent_id)
        ended = counts["completed"] + counts["failed"] + counts["cancelled"]
        values: dict[str, Any] = {"progress": counts, "updated_at": now_ms()}
        recorded = 0
        if ended == counts["total"]:
            values.update(status=JobStatus.CANCELLED if parent.cancel_requested else JobStatus.SUCCEEDED, finished_at=now_ms(),
                          result={"request_counts": counts})
        s.execute(update(Job).where(Job.id == parent_id).values(**values))
        # Appended while the parent row is locked, so progress events arrive in count order.
        append_event(parent_id, 0, "progress", {"request_counts": counts})
        if "status" in values:
            recorded = webhooks.record_job_end(s, parent, values["status"], values["result"])  # same transaction
            append_event(parent_id, 0, TERMINAL_EVENT[values["status"]],
                                   {"result": values["result"]})
        s.commit()
    finally:
        db.session.remove()
    if recorded:
        webhooks.dispatch(parent_id)
