"""`/api/batches`: many chat completions submitted at once, in the shape of the OpenAI Batch API.

A batch is a parent job (`chat_batch`) with one ordinary chat job per request; see
`tasks/chat_batches.py` for how the parent follows its children. Its stream
(`/api/jobs/<id>/events`, `/ws/jobs/<id>`) carries a progress event each time a request ends.
"""
from __future__ import annotations

import logging
from typing import Annotated, Literal, Optional

from flask import Blueprint, current_app
from flask_jwt_extended import current_user, jwt_required
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select

from models import Job, now_ms
from models.db import db
from providers.registry import ProviderSelectionError
from providers.user_keys import resolve_for_user
from realtime.job_events import event_log_for
from tasks.chat_batches import CHAT_BATCH, cancel_children, settle_batch
from tasks.completions import enqueue_completion, provider_registry
from web.errors import ApiError, not_found
from web.job_wire import enqueue_or_undo
from web.openapi import endpoint
from web.pagination import paginate
from web.schemas import PageMeta, StrictWireModel
from web.schemas_jobs import ChatRequest, JobError, JobResult, RequestCounts

bp = Blueprint("batches", __name__, url_prefix="/api/batches")
log = logging.getLogger(__name__)
TAGS = ["batches"]

CustomId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class BatchRequestIn(StrictWireModel):
    custom_id: CustomId = Field(alias="custom_id")
    method: Literal["POST"] = "POST"
    url: Literal["/v1/chat/completions", "/api/chat"] = "/v1/chat/completions"
    body: ChatRequest


class BatchIn(StrictWireModel):
    requests: Annotated[list[BatchRequestIn], Field(min_length=1, max_length=1000)]
    metadata: Optional[Annotated[dict[Annotated[str, StringConstraints(max_length=64)],
                                      Annotated[str, StringConstraints(max_length=512)]],
                                 Field(max_length=16)]] = None

    @model_validator(mode="after")
    def _unique_ids_and_no_conversations(self) -> "BatchIn":
        seen: dict[str, int] = {}
        for i, req in enumerate(self.requests):
            if req.custom_id in seen:
                raise ValueError(f"requests.{i}.custom_id repeats requests.{seen[req.custom_id]}")
            seen[req.custom_id] = i
            if req.body.conversation_id is not None:
                raise ValueError(f"requests.{i}.body.conversationId: batches do not write to conversations")
        return self


class BatchOut(BaseModel):
    id: str
    object: Literal["batch"]
    status: Literal["in_progress", "cancelling", "completed", "cancelled"]
    request_counts: RequestCounts
    metadata: Optional[dict[str, str]]
    createdAt: int
    updatedAt: int
    finishedAt: Optional[int]
    links: dict[str, str]


class BatchListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 20


class BatchPage(PageMeta):
    batches: list[BatchOut]


class BatchResultOut(BaseModel):
    custom_id: str
    jobId: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    response: Optional[JobResult]
    error: Optional[JobError]


class BatchResultsOut(BaseModel):
    batchId: str
    results: list[BatchResultOut]


def batch_to_wire(job: Job) -> dict:
    if job.status == "succeeded":
        status = "completed"
    elif job.status == "cancelled":
        status = "cancelled"
    else:
        status = "cancelling" if job.cancel_requested else "in_progress"
    base = f"/api/batches/{job.id}"
    return {
        "id": job.id, "object": "batch", "status": status,
        "request_counts": job.progress, "metadata": (job.payload or {}).get("metadata"),
        "createdAt": job.created_at, "updatedAt": job.updated_at, "finishedAt": job.finished_at,
        "links": {"self": base, "results": f"{base}/results", "cancel": f"{base}/cancel",
                  "events": f"/api/jobs/{job.id}/events", "stream": f"/ws/jobs/{job.id}"},
    }


def owned_batch(batch_id: str) -> Job:
    job = db.session.execute(select(Job).where(Job.id == batch_id, Job.user_id == current_user.id,
                                               Job.kind == CHAT_BATCH)).scalar_one_or_none()
    if job is None:
        raise not_found("batch")
    return job


def _child_payload(index: int, req: BatchRequestIn) -> dict:
    try:
        provider_name, model = resolve_for_user(provider_registry(current_app), db.session, current_user.id,
                                                req.body.provider, req.body.model)
    except ProviderSelectionError as exc:
        raise ApiError(400, f"requests.{index}: {exc}", code="unknown_provider_or_model",
                       details=[{"loc": ["body", "requests", index, "body"], "msg": str(exc),
                                 "type": "unknown_provider_or_model"}]) from None
    return {"provider": provider_name, "model": model, "messages": [m.model_dump() for m in req.body.messages],
            "system": None, "temperature": req.body.temperature, "max_tokens": req.body.max_tokens,
            "conversation_id": None, "custom_id": req.custom_id, "batch_index": index}


@bp.post("")
@jwt_required()
@endpoint("Submit many chat completions as one batch (202); each request runs as its own job", tags=TAGS,
          body=BatchIn, responses={202: BatchOut}, errors=(400, 503))
def create_batch(body: BatchIn):
    payloads = [_child_payload(i, req) for i, req in enumerate(body.requests)]
    s = db.session()
    counts = {"total": len(payloads), "completed": 0, "failed": 0, "cancelled": 0}
    parent = Job(user_id=current_user.id, kind=CHAT_BATCH, status="running", started_at=now_ms(),
                 payload={"metadata": body.metadata}, progress=counts)
    s.add(parent)
    s.flush()
    children = [Job(user_id=current_user.id, kind="chat", status="queued", parent_id=parent.id, payload=p)
                for p in payloads]
    s.add_all(children)
    s.commit()
    # The first publish decides: if the broker is down nothing is left behind (503). Past it, a
    # failed publish leaves that child queued, and the reconciler enqueues it again.
    enqueue_or_undo(parent, lambda _: enqueue_completion(children[0].id))
    for child in children[1:]:
        try:
            enqueue_completion(child.id)
        except Exception as exc:
            log.warning("batch %s: job %s left for the reconciler: %s", parent.id, child.id, exc)
    return batch_to_wire(parent), 202, {"Location": f"/api/batches/{parent.id}"}


@bp.get("")
@jwt_required()
@endpoint("The caller's batches, newest first", tags=TAGS, query=BatchListQuery, responses={200: BatchPage})
def list_batches(query: BatchListQuery):
    stmt = select(Job).where(Job.user_id == current_user.id, Job.kind == CHAT_BATCH)
    return paginate(stmt, (Job.created_at.desc(), Job.id.desc()), query.page, query.page_size, "batches",
                    batch_to_wire)


@bp.get("/<batch_id>")
@jwt_required()
@endpoint("A batch: status and request counts", tags=TAGS, responses={200: BatchOut}, errors=(404,))
def get_batch(batch_id: str):
    return batch_to_wire(owned_batch(batch_id))


@bp.get("/<batch_id>/results")
@jwt_required()
@endpoint("Per-request results in submission order (those still running have neither response nor error)",
          tags=TAGS, responses={200: BatchResultsOut}, errors=(404,))
def batch_results(batch_id: str):
    parent = owned_batch(batch_id)
    children = sorted(db.session.scalars(select(Job).where(Job.parent_id == parent.id)),
                      key=lambda j: j.payload["batch_index"])
    return {"batchId": parent.id, "results": [
        {"custom_id": c.payload["custom_id"], "jobId": c.id, "status": c.status, "response": c.result,
         "error": c.error} for c in children]}


@bp.post("/<batch_id>/cancel")
@jwt_required()
@endpoint("Cancel a batch: queued requests at once, running ones within about a second", tags=TAGS,
          responses={200: BatchOut, 202: BatchOut}, errors=(404,))
def cancel_batch(batch_id: str):
    parent = owned_batch(batch_id)
    if parent.is_terminal:
        return batch_to_wire(parent), 200
    return cancel_batch_job(parent), 202


def cancel_batch_job(parent: Job) -> dict:
    """Cancel a running batch (also reached through `POST /api/jobs/<id>/cancel`)."""
    app = current_app._get_current_object()
    s = db.session()
    cancelled = cancel_children(app, s, parent)
    s.commit()
    events = event_log_for(app)
    for job_id in cancelled:
        events.append(job_id, 0, "cancelled", {"result": None})
    settle_batch(app, parent.id)
    s = db.session()
    return batch_to_wire(s.get(Job, parent.id, populate_existing=True))


__all__ = ["bp", "cancel_batch_job"]
