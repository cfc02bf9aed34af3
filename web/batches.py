"""`/api/batches`: many chat completions submitted at once, in the shape of the OpenAI Batch API.

A batch is a parent job (`chat_batch`) with one ordinary chat job per request; see
`tasks/chat_batches.py` for how the parent follows its children. Its stream
(`/api/jobs/<id>/events`, `/ws/jobs/<id>`) carries a progress event each time a request ends.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select

from models import Job
from models.db import db
from schemas import wire
from schemas.core import PageMeta, StrictWireModel
from schemas.jobs import ChatRequest, JobError, JobResult, RequestCounts
from services import chat_batches
from services.chat_batches import CHAT_BATCH
from services.errors import InvalidRequest
from services.provider_keys import resolve_for_user
from web.errors import not_found
from web.openapi import endpoint
from web.pagination import paginate

bp = Blueprint("batches", __name__, url_prefix="/api/batches")
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


def owned_batch(batch_id: str) -> Job:
    job = db.session.execute(select(Job).where(Job.id == batch_id, Job.user_id == current_user.id,
                                               Job.kind == CHAT_BATCH)).scalar_one_or_none()
    if job is None:
        raise not_found("batch")
    return job


def _child_payload(index: int, req: BatchRequestIn) -> dict:
    try:
        provider_name, model = resolve_for_user(db.session(), current_user.id, req.body.provider, req.body.model)
    except InvalidRequest as exc:
        raise InvalidRequest(f"requests.{index}: {exc}", code=exc.code,
                             details=[{"loc": ["body", "requests", index, "body"], "msg": str(exc),
                                       "type": exc.code}]) from None
    return {"provider": provider_name, "model": model, "messages": [m.model_dump() for m in req.body.messages],
            "system": None, "temperature": req.body.temperature, "max_tokens": req.body.max_tokens,
            "conversation_id": None, "custom_id": req.custom_id, "batch_index": index}


@bp.post("")
@jwt_required()
@endpoint("Submit many chat completions as one batch (202); each request runs as its own job", tags=TAGS,
          body=BatchIn, responses={202: BatchOut}, errors=(400, 503))
def create_batch(body: BatchIn):
    payloads = [_child_payload(i, req) for i, req in enumerate(body.requests)]
    parent = chat_batches.submit(db.session(), current_user.id, payloads, body.metadata)
    return wire.batch(parent), 202, {"Location": f"/api/batches/{parent.id}"}


@bp.get("")
@jwt_required()
@endpoint("The caller's batches, newest first", tags=TAGS, query=BatchListQuery, responses={200: BatchPage})
def list_batches(query: BatchListQuery):
    stmt = select(Job).where(Job.user_id == current_user.id, Job.kind == CHAT_BATCH)
    return paginate(stmt, (Job.created_at.desc(), Job.id.desc()), query.page, query.page_size, "batches",
                    wire.batch)


@bp.get("/<batch_id>")
@jwt_required()
@endpoint("A batch: status and request counts", tags=TAGS, responses={200: BatchOut}, errors=(404,))
def get_batch(batch_id: str):
    return wire.batch(owned_batch(batch_id))


@bp.get("/<batch_id>/results")
@jwt_required()
@endpoint("Per-request results in submission order (those still running have neither response nor error)",
          tags=TAGS, responses={200: BatchResultsOut}, errors=(404,))
def batch_results(batch_id: str):
    parent = owned_batch(batch_id)
    children = chat_batches.children_of(db.session(), parent.id)
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
        return wire.batch(parent), 200
    chat_batches.cancel_batch(db.session(), parent)
    return wire.batch(db.session().get(Job, parent.id, populate_existing=True)), 202
