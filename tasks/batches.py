"""Conversation batches too big for one request: created or deleted by a Celery task, chunk by chunk.

Each chunk commits together with the job's progress, fenced by the attempt number, so a redelivered
or restarted task resumes after the last committed chunk and never applies one twice. A batch
create is all-or-nothing: if it fails or is cancelled part-way, the conversations it created are
deleted again before the job ends.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from celeryconfig import DEFAULT_QUEUE
from models import Conversation, Job, now_ms
from models.db import db
from observability import bind_log_context
from realtime.job_events import StaleAttempt, event_log_for
from realtime.redis_store import kv
from tasks.completions import lease_key
from web.conversation_ops import delete_conversations, insert_conversations
from web.schemas import ConversationCreate

log = logging.getLogger(__name__)

BATCH_CREATE = "conversations.batch_create"
BATCH_DELETE = "conversations.batch_delete"
BATCH_KINDS = (BATCH_CREATE, BATCH_DELETE)
CHUNK = 200
_ENQUEUE_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def enqueue_batch(job_id: str) -> None:
    run_batch.apply_async(args=[job_id], queue=DEFAULT_QUEUE, retry=True, retry_policy=_ENQUEUE_RETRY)


class _Superseded(Exception):
    """Another attempt owns the job now (or it was finished elsewhere): stop without writing."""


class BatchRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.settings = app.extensions["settings"]
        self.events = event_log_for(app)

    def run(self, job_id: str) -> None:
        bind_log_context(job_id=job_id)
        claimed = self._claim(job_id)
        if claimed is None:
            return
        job, attempt = claimed
        self._event(job_id, attempt, "started", {"attempt": attempt, "kind": job.kind})
        try:
            if job.kind == BATCH_CREATE:
                self._create(job, attempt)
            else:
                self._delete(job, attempt)
        except _Superseded:
            log.info("batch job %s attempt %s superseded", job_id, attempt)

    # ---------------------------------------------------------------- claim

    def _claim(self, job_id: str) -> tuple[Job, int] | None:
        s = db.session()
        try:
            job = s.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
            if job is None or job.is_terminal or job.kind not in BATCH_KINDS:
                return None
            if job.status == "running" and kv.r.exists(lease_key(job_id)):
                return None  # a live attempt elsewhere owns it (duplicate delivery)
            if job.attempts >= self.settings.job_max_attempts:
                err = {"code": "attempts_exhausted", "message": f"gave up after {job.attempts} attempts"}
                self._undo_partial_create(s, job)
                self._finish(s, job, job.attempts, "failed", None, err)
                s.commit()
                self._event(job_id, job.attempts, "failed", {"error": err})
                return None
            job.attempts += 1
            job.status = "running"
            job.started_at = job.started_at or now_ms()
            kv.r.set(lease_key(job_id), job.attempts, ex=self.settings.job_lease_seconds)
            s.commit()
            return job, job.attempts
        finally:
            db.session.remove()

    # ---------------------------------------------------------------- the two kinds

    def _create(self, job: Job, attempt: int) -> None:
        items = job.payload["items"]
        default_model = self.settings.default_model
        progress = dict(job.progress or {"done": 0, "total": len(items)})
        for start in range(progress["done"], len(items), CHUNK):
            chunk = [ConversationCreate.model_validate(x) for x in items[start:start + CHUNK]]
            s = db.session()
            try:
                self._fence(s, job.id, attempt)
                if self._cancel_requested(s, job.id):
                    return self._end_cancelled(job, attempt, undo=True)
                insert_conversations(s, job.user_id, chunk, default_model)
                progress["done"] = start + len(chunk)
                self._save_progress(s, job, progress)
                s.commit()
            except IntegrityError:
                s.rollback()
                err = {"code": "conflict",
                       "message": f"an id in items {start}..{start + len(chunk) - 1} was taken meanwhile; "
                                  "nothing was created"}
                return self._end(job, attempt, "failed", None, err, undo=True)
            finally:
                db.session.remove()
            self._event(job.id, attempt, "progress", dict(progress))
        ids = [x["id"] for x in items]
        s = db.session()
        try:
            convs = {c.id: c for c in s.scalars(
                select(Conversation).where(Conversation.user_id == job.user_id, Conversation.id.in_(ids))
                .options(selectinload(Conversation.messages)))}
            result = {"success": True, "count": len(ids),
                      "conversations": [convs[i].to_wire(with_messages=True) for i in ids if i in convs]}
        finally:
            db.session.remove()
        self._end(job, attempt, "succeeded", result, None)

    def _delete(self, job: Job, attempt: int) -> None:
        ids: list[str] = job.payload["ids"]
        progress = dict(job.progress or {"done": 0, "total": len(ids), "deleted": 0})
        for start in range(progress["done"], len(ids), CHUNK):
            s = db.session()
            try:
                self._fence(s, job.id, attempt)
                if self._cancel_requested(s, job.id):
                    return self._end_cancelled(job, attempt, undo=False, deleted=progress["deleted"])
                progress["deleted"] += delete_conversations(s, job.user_id, ids[start:start + CHUNK])
                progress["done"] = min(start + CHUNK, len(ids))
                self._save_progress(s, job, progress)
                s.commit()
            finally:
                db.session.remove()
            self._event(job.id, attempt, "progress", dict(progress))
        self._end(job, attempt, "succeeded", {"success": True, "deleted_count": progress["deleted"]}, None)

    # ---------------------------------------------------------------- helpers

    def _fence(self, s, job_id: str, attempt: int) -> None:
        """Lock the job row for this chunk's transaction, or stop if this attempt no longer owns it."""
        owner = s.execute(select(Job.attempts, Job.status).where(Job.id == job_id).with_for_update()).one_or_none()
        if owner is None or owner != (attempt, "running"):
            raise _Superseded()
        kv.r.set(lease_key(job_id), attempt, ex=self.settings.job_lease_seconds)

    @staticmethod
    def _cancel_requested(s, job_id: str) -> bool:
        return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    @staticmethod
    def _save_progress(s, job: Job, progress: dict[str, Any]) -> None:
        s.execute(update(Job).where(Job.id == job.id).values(progress=dict(progress), updated_at=now_ms()))

    def _end_cancelled(self, job: Job, attempt: int, *, undo: bool, deleted: int = 0) -> None:
        result = None if undo else {"success": False, "deleted_count": deleted}
        db.session.rollback()
        self._end(job, attempt, "cancelled", result, None, undo=undo)

    def _end(self, job: Job, attempt: int, status: str, result: dict | None, error: dict | None,
             undo: bool = False) -> None:
        s = db.session()
        try:
            self._fence(s, job.id, attempt)
            if undo:
                self._undo_partial_create(s, job)
            self._finish(s, job, attempt, status, result, error)
            s.commit()
        finally:
            db.session.remove()
        event = {"succeeded": "completed"}.get(status, status)
        self._event(job.id, attempt, event, {"result": result} if error is None else {"error": error})
        kv.r.delete(lease_key(job.id))

    @staticmethod
    def _undo_partial_create(s, job: Job) -> None:
        if job.kind == BATCH_CREATE:
            progress = s.scalar(select(Job.progress).where(Job.id == job.id)) or {}
            ids = [x["id"] for x in job.payload["items"][: progress.get("done", 0)]]
            delete_conversations(s, job.user_id, ids)

    @staticmethod
    def _finish(s, job: Job, attempt: int, status: str, result: dict | None, error: dict | None) -> None:
        ts = now_ms()
        s.execute(update(Job).where(Job.id == job.id, Job.attempts == attempt)
                  .values(status=status, result=result, error=error, finished_at=ts, updated_at=ts))

    def _event(self, job_id: str, attempt: int, type_: str, data: dict) -> None:
        try:
            self.events.append(job_id, attempt, type_, data)
        except StaleAttempt:
            pass


@shared_task(name="tasks.batches.run_batch", ignore_result=True)
def run_batch(job_id: str) -> None:
    BatchRunner(current_app._get_current_object()).run(job_id)
