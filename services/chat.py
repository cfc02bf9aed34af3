"""Chat submission: a completion request becomes a committed, enqueued job.

The job row commits before the task is published; if publishing fails the row is removed (and
the messages it appended to a conversation) and the caller gets Unavailable, so no job is left
queued with no task behind it. An `Idempotency-Key` makes a retried submission return the same job.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from extensions.ext_settings import settings
from models import Job, Message
from models.db import self_committing
from realtime.job_stream import follow_job
from realtime.relay import Cursor
from schemas.core import MessageIn
from schemas.jobs import ChatRequest
from services import conversations
from services.early_start import task_hint
from services.errors import Conflict, InvalidInput, TimedOut
from services.job_status import CHAT
from services.lifecycle import JobStatus, enqueue_or_undo
from services.provider_keys import resolve_for_user
from services.queue import RUN_COMPLETION


@dataclass(frozen=True)
class Submission:
    body: ChatRequest
    user_id: str
    idempotency_key: str | None = None
    provider_override: str | None = None


def _request_hash(body: ChatRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(s: Session, user_id: str, key: str, digest: str) -> Job | None:
    job = s.execute(select(Job).where(Job.user_id == user_id, Job.idempotency_key == key)).scalar_one_or_none()
    if job is not None and job.request_hash != digest:
        raise Conflict("Idempotency-Key was already used with a different request body", code="idempotency_conflict")
    return job


def submit_chat(s: Session, sub: Submission) -> tuple[Job, bool]:
    """Create and enqueue a completion job; returns (job, created) — created is False on a replay."""
    key = sub.idempotency_key
    if key is not None and not (1 <= len(key) <= 255):
        raise InvalidInput("Idempotency-Key must be 1 to 255 characters")
    digest = _request_hash(sub.body)
    if key and (existing := _replay(s, sub.user_id, key, digest)) is not None:
        return existing, False
    provider, model = resolve_for_user(s, sub.user_id, sub.provider_override or sub.body.provider, sub.body.model)
    payload, stored_ids = _payload(s, sub, provider, model)
    try:
        job = submit_payload(s, sub.user_id, payload, idempotency_key=key, request_hash=digest,
                             undo=lambda: stored_ids and s.execute(delete(Message).where(Message.id.in_(stored_ids))))
    except IntegrityError:  # a concurrent request with the same Idempotency-Key won
        s.rollback()
        existing = _replay(s, sub.user_id, key, digest) if key else None
        if existing is None:
            raise
        return existing, False
    return job, True


def chat_payload(provider: str, model: str, messages: list[dict], *, system: str | None, temperature: float,
                 max_tokens: int, conversation_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """The payload every chat job carries (what the completion runner reads), plus `extra` keys."""
    return {"provider": provider, "model": model, "messages": messages, "system": system,
            "temperature": temperature, "max_tokens": max_tokens, "conversation_id": conversation_id, **extra}


def submit_payload(s: Session, user_id: str, payload: dict[str, Any], *, attach: Callable[[Job], object] | None = None,
                   undo: Callable[[], object] | None = None, **fields: Any) -> Job:
    """Commit a queued chat job for a ready payload, then enqueue it: every chat submission's last step.

    `attach(job)` adds rows that belong with the job (they commit with it; a refused enqueue
    removes the job and, by cascade, them). `undo` removes what the caller added before.
    """
    job = Job(user_id=user_id, kind=CHAT, status=JobStatus.QUEUED, payload=payload, **fields)
    if attach is None and not (s.in_transaction() or s.new or s.dirty or s.deleted):
        # A lone row needs no transaction around it: its INSERT commits itself, which spares every
        # plain submission the BEGIN and COMMIT round trips (and is as durable).
        with self_committing(s):
            s.add(job)
            s.flush()
    else:
        s.add(job)
        if attach is not None:
            s.flush()
            attach(job)
    s.commit()
    hint = task_hint(user_id, payload, settings().job_early_start_within)
    enqueue_or_undo(s, job, RUN_COMPLETION, undo=undo, extra=() if hint is None else (hint,))
    return job


def _payload(s: Session, sub: Submission, provider: str, model: str) -> tuple[dict[str, Any], list[str]]:
    """The job payload (and the ids of new messages appended to its conversation, if any); not committed."""
    body = sub.body
    system, history, stored_ids = None, [], []
    if body.conversation_id:
        conv = conversations.owned_conversation(s, sub.user_id, body.conversation_id, with_messages=True)
        system = conv.system_prompt
        history = [{"role": m.role, "content": m.content} for m in conv.messages if m.role != "system"]
        for m in body.messages:
            stored_ids.append(conversations.append_message(s, conv, MessageIn(role=m.role, content=m.content,
                                                                               model=model)).id)
    payload = chat_payload(provider, model, history + [m.model_dump() for m in body.messages], system=system,
                           temperature=body.temperature, max_tokens=body.max_tokens,
                           conversation_id=body.conversation_id)
    return payload, stored_ids


def wait_for_end(app: Flask, job_id: str) -> None:
    """Block until the job's terminal event (seed's synchronous `/api/chat/ai`), or TimedOut."""
    if not wait_until_ended(app, job_id, settings(app).chat_wait_timeout):
        raise TimedOut(f"job {job_id} did not finish in time; poll /api/jobs/{job_id}",
                       details={"jobId": job_id})


def wait_until_ended(app: Flask, job_id: str, timeout: float) -> bool:
    """Follow the job until its terminal event (True) or until `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    for event in follow_job(app, job_id, Cursor(), idle_timeout=min(1.0, max(timeout, 0.1))):
        if event is not None and event.terminal:
            return True
        if time.monotonic() > deadline:
            return False
    return True
