"""Re-enqueue jobs that lost their task: stuck in `queued` (message lost, e.g. a Redis restart) or
`running` with an expired lease (worker killed).

Every worker runs the loop; a Redis lock lets one pass run at a time across workers. Duplicate
deliveries are harmless: the task claims a job only once per attempt.
"""
from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutting_down
from flask import Flask
from sqlalchemy import or_, select, update

from celeryconfig import COMPLETIONS_QUEUE
from models import Job, now_ms
from models.db import db
from realtime.redis_store import kv
from tasks.completions import enqueue_completion, lease_key

log = logging.getLogger(__name__)
_stop = threading.Event()


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
                select(Job.id, Job.status).where(
                    Job.kind == "chat",
                    or_(
                        (Job.status == "queued") & (Job.updated_at < queued_before),
                        (Job.status == "running") & (Job.updated_at < running_before),
                    ),
                ).limit(500)
            ).all()
            # A queued job is only re-enqueued when the queue is empty: while messages wait, it is
            # most likely still in line, and re-enqueueing a long backlog would only flood the queue.
            backlog = kv.r.llen(settings.redis_key_prefix + "celery:" + COMPLETIONS_QUEUE)
            stuck = [job_id for job_id, status in candidates
                     if (status == "queued" and backlog == 0)
                     or (status == "running" and not kv.r.exists(lease_key(job_id)))]
            if stuck:
                s.execute(update(Job).where(Job.id.in_(stuck)).values(updated_at=now))
                s.commit()
        finally:
            db.session.remove()
        for job_id in stuck:
            log.warning("re-enqueueing stuck job %s", job_id)
            enqueue_completion(job_id)
        return stuck


def _loop(app: Flask) -> None:
    interval = app.extensions["settings"].reconcile_interval
    while not _stop.wait(interval):
        try:
            reconcile_once(app)
        except Exception as exc:  # database or Redis briefly down: try again next pass
            log.warning("reconciler pass failed: %s", exc)


@worker_ready.connect
def _start_reconciler(sender=None, **_kwargs: object) -> None:
    from tasks.worker import flask_app

    _stop.clear()
    threading.Thread(target=_loop, args=(flask_app,), name="reconciler", daemon=True).start()


@worker_shutting_down.connect
def _stop_reconciler(**_kwargs: object) -> None:
    _stop.set()
