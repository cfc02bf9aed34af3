"""Jobs as their owner sees them: lookup, listing, enqueueing a committed job, cancel."""
from __future__ import annotations

import logging

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models import Job
from services import lifecycle
from services.chat_batches import cancel_batch
from services.errors import NotFound
from services.job_status import CHAT_BATCH

log = logging.getLogger(__name__)


def owned_job(s: Session, user_id: str, job_id: str) -> Job:
    job = s.execute(select(Job).where(Job.id == job_id, Job.user_id == user_id)).scalar_one_or_none()
    if job is None:
        raise NotFound("job")
    return job


def list_statement(user_id: str, status: str | None, kind: str | None, conversation_id: str | None) -> Select:
    stmt = select(Job).where(Job.user_id == user_id)
    if status:
        stmt = stmt.where(Job.status == status)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    if conversation_id:
        stmt = stmt.where(Job.payload["conversation_id"].as_string() == conversation_id)
    return stmt


def cancel(s: Session, job: Job) -> bool:
    """Cancel a job of any kind; returns False when it had already ended."""
    if job.is_terminal:
        return False
    if job.kind == CHAT_BATCH:
        cancel_batch(s, job)
    else:
        lifecycle.cancel(job)
    return True
