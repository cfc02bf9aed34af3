"""Conversation batches too big for one request: created or deleted by a Celery task, chunk by chunk.

Each chunk commits together with the job's progress, fenced by the attempt number, so a redelivered
or restarted task resumes after the last committed chunk and never applies one twice. A batch
create is all-or-nothing: if it fails or is cancelled part-way, the conversations it created are
deleted again before the job ends.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from extensions.ext_jobs import event_log
from extensions.ext_settings import settings
from models import Conversation, Job, now_ms
from models.db import db
from observability import bind_log_context
from schemas import wire
from schemas.core import ConversationCreate
from services import lifecycle
from services.conversation_rows import delete_conversations, insert_conversations
from services.job_status import BATCH_CREATE, BATCH_DELETE, JobStatus
from services.lifecycle import enqueue_or_undo
from services.queue import RUN_BATCH

log = logging.getLogger(__name__)

BATCH_KINDS = (BATCH_CREATE, BATCH_DELETE)
CHUNK = 200


def submit(s: Session, user_id: str, kind: str, payload: dict) -> Job:
    """A batch job for work too big for one request (committed, then enqueued)."""
    job = Job(user_id=user_id, kind=kind, status=JobStatus.QUEUED, payload=payload,
              progress={"done": 0, "total": payload["count"], **({"deleted": 0} if kind == BATCH_DELETE else {})})
    s.add(job)
    s.commit()
    enqueue_or_undo(s, job, RUN_BATCH)
    return job


class _Superseded(Exception):
    """Another attempt owns the job now (or it was finished elsewhere): stop without writing."""


class BatchRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.settings = settings(app)
        self.events = event_log(app)

    def run(self, job_id: str) -> None:
        bind_log_context(job_id=job_id)
        claimed = lifecycle.claim(job_id, BATCH_KINDS, cancel_at_claim=False,
                                  before_giving_up=self._undo_partial_create)
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
                return self._end(job, attempt, JobStatus.FAILED, None, err, undo=True)
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
                      "conversations": [wire.conversation(convs[i], with_messages=True) for i in ids if i in convs]}
        finally:
            db.session.remove()
        self._end(job, attempt, JobStatus.SUCCEEDED, result, None)

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
        self._end(job, attempt, JobStatus.SUCCEEDED, {"success": True, "deleted_count": progress["deleted"]}, None)

    # ---------------------------------------------------------------- helpers

    def _fence(self, s, job_id: str, attempt: int) -> None:
        """Lock the job row for this chunk's transaction, or stop if this attempt no longer owns it."""
        owner = s.execute(select(Job.attempts, Job.status).where(Job.id == job_id).with_for_update()).one_or_none()
        if owner is None or owner != (attempt, "running"):
            raise _Superseded()
        lifecycle.renew_lease(job_id, attempt)

    @staticmethod
    def _cancel_requested(s, job_id: str) -> bool:
        return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    @staticmethod
    def _save_progress(s, job: Job, progress: dict[str, Any]) -> None:
        s.execute(update(Job).where(Job.id == job.id).values(progress=dict(progress), updated_at=now_ms()))

    def _end_cancelled(self, job: Job, attempt: int, *, undo: bool, deleted: int = 0) -> None:
        result = None if undo else {"success": False, "deleted_count": deleted}
        db.session.rollback()
        self._end(job, attempt, JobStatus.CANCELLED, result, None, undo=undo)

    def _end(self, job: Job, attempt: int, status: JobStatus, result: dict | None, error: dict | None,
             undo: bool = False) -> None:
        s = db.session()
        try:
            self._fence(s, job.id, attempt)
            if undo:
                self._undo_partial_create(s, job)
            final = lifecycle.finish(s, job, attempt, status, result, error)
            s.commit()
        finally:
            db.session.remove()
        lifecycle.publish_terminal(job, attempt, status, result, error, final.webhooks)

    @staticmethod
    def _undo_partial_create(s, job: Job) -> None:
        if job.kind == BATCH_CREATE:
            progress = s.scalar(select(Job.progress).where(Job.id == job.id)) or {}
            ids = [x["id"] for x in job.payload["items"][: progress.get("done", 0)]]
            delete_conversations(s, job.user_id, ids)

    @staticmethod
    def _event(job_id: str, attempt: int, type_: str, data: dict) -> None:
        lifecycle.append_event(job_id, attempt, type_, data)
