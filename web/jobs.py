"""Chat completions as jobs: `POST /api/chat` (202 + job), polling, listing, cancel, models.

The job row commits before the task is published; if publishing fails the row is removed and
the client gets 503, so no job is left queued with no task behind it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time

from flask import Blueprint, current_app, request
from flask_jwt_extended import current_user, jwt_required
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from models import Job, Message, now_ms
from models.db import db
from providers.registry import ProviderSelectionError
from providers.user_keys import resolve_for_user, user_key_providers
from realtime.job_events import event_log_for
from realtime.relay import follow, notifier_for
from tasks import plugins as plugin_events
from tasks.chat_batches import CHAT_BATCH, settle_parent
from tasks.completions import enqueue_completion, provider_registry
from web.batches import cancel_batch_job
from web.conversations import append_message, owned_conversation
from web.errors import ApiError, not_found
from web.job_wire import accepted, enqueue_or_undo, job_to_wire
from web.openapi import endpoint
from web.pagination import paginate
from web.schemas import MessageIn
from web.schemas_jobs import (
    ChatAiOut,
    ChatAiQuery,
    ChatRequest,
    JobListQuery,
    JobOut,
    JobPage,
    ModelsOut,
)
from web.streams import terminal_from_row

bp = Blueprint("jobs", __name__)
log = logging.getLogger(__name__)
TAGS = ["jobs"]


def owned_job(job_id: str) -> Job:
    job = db.session.execute(
        select(Job).where(Job.id == job_id, Job.user_id == current_user.id)
    ).scalar_one_or_none()
    if job is None:
        raise not_found("job")
    return job


def _request_hash(body: ChatRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _idempotent_replay(key: str, digest: str) -> Job | None:
    job = db.session.execute(
        select(Job).where(Job.user_id == current_user.id, Job.idempotency_key == key)
    ).scalar_one_or_none()
    if job is not None and job.request_hash != digest:
        raise ApiError(409, "Idempotency-Key was already used with a different request body",
                       code="idempotency_conflict")
    return job


def submit_chat(body: ChatRequest, provider_override: str | None = None) -> tuple[Job, bool]:
    """Create and enqueue a completion job; returns (job, created) — created is False on a replay."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 255):
        raise ApiError(422, "Idempotency-Key must be 1 to 255 characters", code="validation_error")
    digest = _request_hash(body)
    if key and (existing := _idempotent_replay(key, digest)) is not None:
        return existing, False
    try:
        provider_name, model = resolve_for_user(provider_registry(current_app), db.session, current_user.id,
                                                provider_override or body.provider, body.model)
    except ProviderSelectionError as exc:
        raise ApiError(400, str(exc), code="unknown_provider_or_model") from None
    s = db.session
    new_messages = [m.model_dump() for m in body.messages]
    system = None
    history: list[dict] = []
    stored_ids: list[str] = []
    if body.conversation_id:
        conv = owned_conversation(body.conversation_id, with_messages=True)
        system = conv.system_prompt
        history = [{"role": m.role, "content": m.content} for m in conv.messages if m.role != "system"]
        for m in body.messages:
            stored_ids.append(append_message(conv, MessageIn(role=m.role, content=m.content, model=model)).id)
    job = Job(
        user_id=current_user.id, kind="chat", status="queued", idempotency_key=key, request_hash=digest,
        payload={
            "provider": provider_name, "model": model, "messages": history + new_messages, "system": system,
            "temperature": body.temperature, "max_tokens": body.max_tokens,
            "conversation_id": body.conversation_id,
        },
    )
    s.add(job)
    try:
        s.commit()
    except IntegrityError:  # a concurrent request with the same Idempotency-Key won
        s.rollback()
        existing = _idempotent_replay(key, digest) if key else None
        if existing is None:
            raise
        return existing, False
    enqueue_or_undo(job, enqueue_completion,
                    undo=lambda: stored_ids and s.execute(delete(Message).where(Message.id.in_(stored_ids))))
    return job, True


@bp.post("/api/chat")
@jwt_required()
@endpoint("Submit a chat completion as a job (202 + poll and stream links)", tags=TAGS, body=ChatRequest,
          responses={202: JobOut}, errors=(400, 404, 409, 503))
def submit(body: ChatRequest):
    job, _created = submit_chat(body)
    return accepted(job)


@bp.post("/api/chat/ai")
@jwt_required()
@endpoint("Seed compatibility: submit and wait for the answer", tags=TAGS, body=ChatRequest, query=ChatAiQuery,
          responses={200: ChatAiOut}, errors=(400, 404, 409, 503, 504))
def chat_and_wait(body: ChatRequest, query: ChatAiQuery):
    job, _created = submit_chat(body, provider_override=query.provider)
    app = current_app._get_current_object()
    deadline = time.monotonic() + app.extensions["settings"].chat_wait_timeout
    for event in follow(event_log_for(app), notifier_for(app), job.id, 0, idle_timeout=1.0,
                        finished=terminal_from_row(app, job.id)):
        if event is not None and event.terminal:
            break
        if time.monotonic() > deadline:
            raise ApiError(504, f"job {job.id} did not finish in time; poll /api/jobs/{job.id}",
                           code="timeout", details={"jobId": job.id})
    db.session.expire_all()
    job = owned_job(job.id)
    if job.status != "succeeded":
        error = job.error or {"code": job.status, "message": f"job {job.status}"}
        status = 502 if job.status == "failed" else 409
        raise ApiError(status, error["message"], code=error["code"], details={"jobId": job.id})
    usage = job.result.get("usage") or {}
    return {"content": job.result["content"], "tokens": usage.get("output_tokens"), "model": job.result["model"],
            "provider": job.result["provider"], "jobId": job.id}


@bp.get("/api/jobs/<job_id>")
@jwt_required()
@endpoint("A job: status, attempts, timestamps, result or error", tags=TAGS, responses={200: JobOut},
          errors=(404,))
def get_job(job_id: str):
    return job_to_wire(owned_job(job_id))


@bp.get("/api/jobs")
@jwt_required()
@endpoint("The caller's jobs, newest first", tags=TAGS, query=JobListQuery, responses={200: JobPage})
def list_jobs(query: JobListQuery):
    stmt = select(Job).where(Job.user_id == current_user.id)
    if query.status:
        stmt = stmt.where(Job.status == query.status)
    if query.kind:
        stmt = stmt.where(Job.kind == query.kind)
    if query.conversation_id:
        stmt = stmt.where(Job.payload["conversation_id"].as_string() == query.conversation_id)
    return paginate(stmt, (Job.created_at.desc(), Job.id.desc()), query.page, query.page_size, "jobs", job_to_wire)


@bp.post("/api/jobs/<job_id>/cancel")
@jwt_required()
@endpoint("Cancel a queued or running job", tags=TAGS, responses={202: JobOut, 200: JobOut}, errors=(404,))
def cancel_job(job_id: str):
    job = owned_job(job_id)
    if job.is_terminal:
        return job_to_wire(job), 200
    if job.kind == CHAT_BATCH:
        cancel_batch_job(job)
        return job_to_wire(db.session.get(Job, job.id, populate_existing=True)), 202
    s = db.session
    ts = now_ms()
    events = event_log_for(current_app)
    cancelled_queued = s.execute(
        update(Job).where(Job.id == job.id, Job.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=ts, updated_at=ts)
    ).rowcount == 1
    if cancelled_queued:
        plugin_events.job_finished(s, job, "cancelled", None, None)
    else:
        s.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True, updated_at=ts))
    s.commit()
    if cancelled_queued:
        events.append(job.id, job.attempts, "cancelled", {"result": None})
        settle_parent(current_app._get_current_object(), job.id)
    else:
        events.request_cancel(job.id)
    return job_to_wire(db.session.get(Job, job.id, populate_existing=True)), 202


@bp.get("/api/models")
@jwt_required()
@endpoint("Configured providers and their models", tags=["models"], responses={200: ModelsOut})
def list_models():
    registry = provider_registry(current_app)
    catalog = registry.catalog()
    # Providers the server has not enabled but the caller holds a key for are theirs to use.
    for name in sorted(user_key_providers(db.session, current_user.id) - set(registry.providers)):
        if registry.keyable(name):
            catalog.append({"provider": name, "models": registry.models_for(name), "default": False})
    return {"providers": catalog}


__all__ = ["bp", "job_to_wire", "owned_job", "submit_chat"]
