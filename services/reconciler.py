"""Re-enqueue jobs that lost their task: stuck in `queued` (message lost, e.g. a Redis restart) or
`running` with an expired lease (worker killed).

Every worker runs the loop; a Redis lock lets one pass run at a time across workers. Duplicate
deliveries are harmless: the task claims a job only once per attempt.
"""
from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import or_, select, update

from celeryconfig import queue_lengths
from extensions.ext_settings import settings as settings_of
from models import Job, now_ms
from models.db import db
from realtime.redis_store import kv
from services import queue
from services.batch_progress import settle_batch
from services.job_status import CHAT_BATCH, KINDS, JobStatus
from services.lifecycle import lease_key

log = logging.getLogger(__name__)


def _queue_of(kind: str) -> str:
    return queue.QUEUE_OF[KINDS[kind].task]


def reconcile_once(app: Flask) -> list[str]:
    """One pass; returns the ids it re-enqueued."""
    settings = settings_of(app)
    now = now_ms()
    queued_before = now - settings.reconcile_queued_after * 1000
    running_before = now - settings.job_lease_seconds * 1000
    with app.app_context():
        if not kv.r.set(kv.key("reconciler", "lock"), "1", nx=True, ex=max(1, int(settings.reconcile_interval))):
            return []
        s = db.session()
        try:
            candidates = s.execute(
                select(Job.id, Job.status, Job.kind).where(
                    Job.kind.in_(list(KINDS)),
                    or_(
                        (Job.status == JobStatus.QUEUED) & (Job.updated_at < queued_before),
                        (Job.status == JobStatus.RUNNING) & (Job.updated_at < running_before),
                    ),
                ).limit(500)
            ).all()
            # A queued job is only re-enqueued when the queue is empty: while messages wait, it is
            # most likely still in line, and re-enqueueing a long backlog would only flood the queue.
            backlog = queue_lengths(kv.r, settings, set(queue.QUEUE_OF.values()))
            stuck = [(job_id, kind) for job_id, status, kind in candidates
                     if (status == JobStatus.QUEUED and backlog[_queue_of(kind)] == 0)
                     or (status == JobStatus.RUNNING and not kv.r.exists(lease_key(job_id)))]
            if stuck:
                s.execute(update(Job).where(Job.id.in_([job_id for job_id, _ in stuck])).values(updated_at=now))
                s.commit()
        finally:
            db.session.remove()
        for job_id, kind in stuck:
            log.warning("re-enqueueing stuck %s job %s", kind, job_id)
            queue.send(KINDS[kind].task, job_id)
        _settle_stale_batches(running_before)
        return [job_id for job_id, _ in stuck]


def _settle_stale_batches(before: int) -> None:
    """Finish chat batches whose last child ended while Redis or the database was unavailable."""
    parents = db.session.scalars(select(Job.id).where(
        Job.kind == CHAT_BATCH, Job.status == JobStatus.RUNNING, Job.updated_at < before).limit(100)).all()
    db.session.remove()
    for parent_id in parents:
        settle_batch(parent_id)
