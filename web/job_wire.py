"""The job's wire format and the commit-then-enqueue step shared by every kind of job."""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import delete

from models import Job
from models.db import db
from web.errors import ApiError

log = logging.getLogger(__name__)


def job_to_wire(job: Job) -> dict:
    p = job.payload or {}
    base = f"/api/jobs/{job.id}"
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "attempts": job.attempts,
        "provider": p.get("provider"),
        "model": p.get("model"),
        "conversationId": p.get("conversation_id"),
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
        "progress": job.progress,
        "result": job.result,
        "error": job.error,
        "links": {"self": base, "events": f"{base}/events", "stream": f"/ws/jobs/{job.id}",
                  "cancel": f"{base}/cancel"},
    }



def accepted(job: Job):
    return job_to_wire(job), 202, {"Location": f"/api/jobs/{job.id}"}


def enqueue_or_undo(job: Job, enqueue: Callable[[str], None], undo: Callable[[], object] | None = None) -> None:
    """Publish the task of a committed job; if the broker cannot take it, remove the job (and
    whatever `undo` removes) and answer 503, so no job is left queued with no task behind it."""
    try:
        enqueue(job.id)
    except Exception as exc:
        log.error("could not enqueue job %s: %s", job.id, exc)
        s = db.session()
        if undo is not None:
            undo()
        s.execute(delete(Job).where(Job.id == job.id))
        s.commit()
        raise ApiError(503, "the job queue is unavailable; try again", code="queue_unavailable",
                       headers={"Retry-After": "5"}) from None
