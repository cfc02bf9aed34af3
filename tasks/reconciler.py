"""Re-enqueue jobs that lost their task: stuck in `queued` (message lost, e.g. a Redis restart) or
`running` with an expired lease (worker killed).

Every worker runs the loop; a Redis lock lets one pass run at a time across workers. Duplicate
deliveries are harmless: the task claims a job only once per attempt.
"""
from __future__ import annotations

import logging
from typing import Callable

from flask import Flask
from sqlalchemy import or_, select, update

from celeryconfig import COMPLETIONS_QUEUE, DEFAULT_QUEUE, queue_lengths
from models import Job, now_ms
from models.db import db
from realtime.redis_store import kv
from tasks.batches import BATCH_KINDS, enqueue_batch
from tasks.chat_batches import CHAT_BATCH, settle_batch
from tasks.completions import enqueue_completion, lease_key
from tasks.periodic import run_in_every_worker

# kind -> (the queue its task waits in, how to enqueue it again)
_REQUEUE: dict[str, tuple[str, Callable[[str], None]]] = {
    "chat": (COMPLETIONS_QUEUE, enqueue_completion),
    **{kind: (DEFAULT_QUEUE, enqueue_batch) for kind in BATCH_KINDS},
}

log = logging.getLogger(__name__)


def reconcile_once(app: Flask) -> list[str]:
    """One pass; returns the ids it re-enqueued."""
    settings = app.extensions["settings"]
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
                    Job.kind.in_(list(_REQUEUE)),
                    or_(
                        (Job.status == "queued") & (Job.updated_at < queued_before),
                        (Job.status == "running") & (Job.updated_at < running_before),
                    ),
                ).limit(500)
            ).all()
            # A queued job is only re-enqueued when the queue is empty: while messages wait, it is
            # most likely still in line, and re-enqueueing a long backlog would only flood the queue.
            backlog = queue_lengths(kv.r, settings, {q for q, _ in _REQUEUE.values()})
            stuck = [(job_id, kind) for job_id, status, kind in candidates
                     if (status == "queued" and backlog[_REQUEUE[kind][0]] == 0)
                     or (status == "running" and not kv.r.exists(lease_key(job_id)))]
            if stuck:
                s.execute(update(Job).where(Job.id.in_([job_id for job_id, _ in stuck])).values(updated_at=now))
                s.commit()
        finally:
            db.session.remove()
        for job_id, kind in stuck:
            log.warning("re-enqueueing stuck %s job %s", kind, job_id)
            _REQUEUE[kind][1](job_id)
        _settle_stale_batches(app, running_before)
        return [job_id for job_id, _ in stuck]


def _settle_stale_batches(app: Flask, before: int) -> None:
    """Finish chat batches whose last child ended while Redis or the database was unavailable."""
    parents = db.session.scalars(select(Job.id).where(
        Job.kind == CHAT_BATCH, Job.status == "running", Job.updated_at < before).limit(100)).all()
    db.session.remove()
    for parent_id in parents:
        settle_batch(app, parent_id)


run_in_every_worker("reconciler", lambda app: app.extensions["settings"].reconcile_interval, reconcile_once)
