"""`/api/conversations`: CRUD, paginated lists and batches of the caller's conversations.

Every query filters on the caller's id: another user's conversation is indistinguishable from
one that does not exist (404). Every write marks the caller's cached lists and stats stale.
"""
from __future__ import annotations

from typing import Annotated, Union

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from models import Conversation, now_ms
from models.db import db
from extensions.ext_cache import response_cache
from extensions.ext_settings import settings
from realtime.cache import MEMBERSHIP, mark_user_changed
from schemas import wire
from services import conversation_batches, conversations
from services.conversation_batches import BATCH_CREATE, BATCH_DELETE
from services.conversations import (
    assign_ids,
    build_conversation,
    check_batch_ids,
    count_conversations,
    delete_conversations,
    insert_conversations,
    list_page,
)
from web.errors import ApiError
from web.jobs import accepted
from web.openapi import endpoint
from schemas.core import (
    BatchCreateOut,
    BatchDeleteOut,
    BatchIds,
    ConversationCreate,
    ConversationDetailOut,
    ConversationPage,
    ConversationPatch,
    ListQuery,
    MessageIn,
    MessageOut,
    MessagesOut,
    ResourceId,
)
from schemas.jobs import JobOut

bp = Blueprint("conversations", __name__, url_prefix="/api/conversations")
TAGS = ["conversations"]

BatchCreateIn = Annotated[list[ConversationCreate], Field(min_length=1, max_length=100_000)]
BatchDeleteIn = Union[Annotated[list[ResourceId], Field(min_length=1, max_length=100_000)], BatchIds]


def owned_conversation(conversation_id: str, *, with_messages: bool = False) -> Conversation:
    return conversations.owned_conversation(db.session(), current_user.id, conversation_id,
                                            with_messages=with_messages)


def _commit_or_conflict(what: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, f"{what} id already exists", code="conflict") from None


def _changed(*, membership: bool = False) -> None:
    """This request's transaction changes the caller's cached lists and stats."""
    mark_user_changed(db.session(), current_user.id, membership=membership)


def _settings():
    return settings()


# ---------------------------------------------------------------- lists

def _page(query: ListQuery) -> dict:
    user_id = current_user.id
    cache = response_cache()
    s = db.session()
    total = cache.get_or_compute(user_id, "conversations.count", {}, lambda: count_conversations(s, user_id),
                                 scope=MEMBERSHIP)
    return cache.get_or_compute(user_id, "conversations.page", query.model_dump(),
                                lambda: list_page(s, user_id, query, total))


@bp.get("")
@jwt_required()
@endpoint("List the caller's conversations with message count and last message (paginated, sorted; "
          "`after` pages by cursor)", tags=TAGS, query=ListQuery, responses={200: ConversationPage}, errors=(422,))
def list_conversations(query: ListQuery):
    return _page(query)


@bp.get("/paginated")
@jwt_required()
@endpoint("Seed compatibility: the same paginated, sorted list", tags=TAGS, query=ListQuery,
          responses={200: ConversationPage}, errors=(422,))
def list_conversations_paginated(query: ListQuery):
    return _page(query)


# ---------------------------------------------------------------- one conversation

@bp.post("")
@jwt_required()
@endpoint("Create a conversation (optionally with its messages and a client-chosen id)", tags=TAGS,
          body=ConversationCreate, responses={201: ConversationDetailOut}, errors=(409,))
def create_conversation(body: ConversationCreate):
    conv = build_conversation(current_user.id, body, _settings().default_model)
    db.session.add(conv)
    _changed(membership=True)
    _commit_or_conflict("conversation or message")
    return wire.conversation(conv, with_messages=True), 201


@bp.get("/<conversation_id>")
@jwt_required()
@endpoint("A conversation with its messages", tags=TAGS, responses={200: ConversationDetailOut}, errors=(404,))
def get_conversation(conversation_id: str):
    return wire.conversation(owned_conversation(conversation_id, with_messages=True), with_messages=True)


@bp.patch("/<conversation_id>")
@jwt_required()
@endpoint("Change title, model or system prompt", tags=TAGS, body=ConversationPatch,
          responses={200: ConversationDetailOut}, errors=(404,))
def update_conversation(conversation_id: str, body: ConversationPatch):
    conv = owned_conversation(conversation_id, with_messages=True)
    changes = body.model_dump(exclude_unset=True)
    for field in ("title", "model"):
        if changes.get(field) is None and field in changes:
            raise ApiError(422, f"{field} cannot be null", code="validation_error")
    for field, value in changes.items():
        setattr(conv, field, value)
    if changes:
        conv.updated_at = now_ms()
        _changed()
    db.session.commit()
    return wire.conversation(conv, with_messages=True)


@bp.delete("/<conversation_id>")
@jwt_required()
@endpoint("Delete a conversation and its messages", tags=TAGS, responses={204: None}, errors=(404,))
def delete_conversation(conversation_id: str):
    conv = owned_conversation(conversation_id)
    db.session.delete(conv)
    _changed(membership=True)
    db.session.commit()
    return "", 204


@bp.get("/<conversation_id>/messages")
@jwt_required()
@endpoint("Messages of a conversation, oldest first", tags=TAGS, responses={200: MessagesOut}, errors=(404,))
def list_messages(conversation_id: str):
    conv = owned_conversation(conversation_id, with_messages=True)
    return {"conversationId": conv.id, "messages": [wire.message(m) for m in conv.messages]}


@bp.post("/<conversation_id>/messages")
@jwt_required()
@endpoint("Append a message", tags=TAGS, body=MessageIn, responses={201: MessageOut}, errors=(404, 409))
def add_message(conversation_id: str, body: MessageIn):
    conv = owned_conversation(conversation_id)
    msg = conversations.append_message(db.session(), conv, body)
    _commit_or_conflict("message")
    return wire.message(msg), 201


# ---------------------------------------------------------------- batches

@bp.post("/batch")
@jwt_required()
@endpoint("Create many conversations at once, all or nothing (a job above BATCH_SYNC_LIMIT items)", tags=TAGS,
          body=BatchCreateIn, responses={201: BatchCreateOut, 202: JobOut}, errors=(409, 422, 503))
def batch_create(body: list[ConversationCreate]):
    _check_batch_size(len(body))
    assign_ids(body)
    s = db.session()
    check_batch_ids(s, body)
    if len(body) > _settings().batch_sync_limit:
        items = [item.model_dump(mode="json", exclude_none=True) for item in body]
        return _submit_batch(BATCH_CREATE, {"items": items, "count": len(items)})
    try:
        convs = insert_conversations(s, current_user.id, body, _settings().default_model)
    except IntegrityError:  # an id was taken between the check and the insert
        s.rollback()
        raise ApiError(409, "a conversation or message id already exists", code="conflict") from None
    _commit_or_conflict("conversation or message")
    return {"success": True, "count": len(convs), "conversations": [wire.conversation(c, with_messages=True) for c in convs]}, 201


@bp.delete("/batch")
@jwt_required()
@endpoint("Delete many conversations and their messages (a job above BATCH_SYNC_LIMIT ids); ids that are not "
          "the caller's are not counted", tags=TAGS, body=BatchDeleteIn,
          responses={200: BatchDeleteOut, 202: JobOut}, errors=(422, 503))
def batch_delete(body: list[str] | BatchIds):
    ids = list(dict.fromkeys(body.ids if isinstance(body, BatchIds) else body))
    _check_batch_size(len(ids))
    if len(ids) > _settings().batch_sync_limit:
        return _submit_batch(BATCH_DELETE, {"ids": ids, "count": len(ids)})
    deleted = delete_conversations(db.session(), current_user.id, ids)
    db.session.commit()
    return {"success": True, "deleted_count": deleted}


def _check_batch_size(n: int) -> None:
    limit = _settings().batch_max_items
    if n > limit:
        raise ApiError(422, f"a batch holds at most {limit} items (got {n})", code="validation_error",
                       details=[{"loc": ["body"], "msg": f"at most {limit} items", "type": "too_long"}])


def _submit_batch(kind: str, payload: dict):
    return accepted(conversation_batches.submit(db.session(), current_user.id, kind, payload))
