"""`/api/conversations`: CRUD, paginated lists and batches of the caller's conversations.

Every query filters on the caller's id: another user's conversation is indistinguishable from
one that does not exist (404). Every write marks the caller's cached lists and stats stale.
"""
from __future__ import annotations

from typing import Annotated, Union

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from pydantic import Field

from models import Job
from models.db import db
from schemas import wire
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
from services import conversations
from web.jobs import accepted
from web.openapi import endpoint

bp = Blueprint("conversations", __name__, url_prefix="/api/conversations")
TAGS = ["conversations"]

BatchCreateIn = Annotated[list[ConversationCreate], Field(min_length=1, max_length=100_000)]
BatchDeleteIn = Union[Annotated[list[ResourceId], Field(min_length=1, max_length=100_000)], BatchIds]


@bp.get("")
@jwt_required()
@endpoint("List the caller's conversations with message count and last message (paginated, sorted; "
          "`after` pages by cursor)", tags=TAGS, query=ListQuery, responses={200: ConversationPage}, errors=(422,))
def list_conversations(query: ListQuery):
    return conversations.page(db.session(), current_user.id, query)


@bp.get("/paginated")
@jwt_required()
@endpoint("Seed compatibility: the same paginated, sorted list", tags=TAGS, query=ListQuery,
          responses={200: ConversationPage}, errors=(422,))
def list_conversations_paginated(query: ListQuery):
    return conversations.page(db.session(), current_user.id, query)


@bp.post("")
@jwt_required()
@endpoint("Create a conversation (optionally with its messages and a client-chosen id)", tags=TAGS,
          body=ConversationCreate, responses={201: ConversationDetailOut}, errors=(409,))
def create_conversation(body: ConversationCreate):
    return wire.conversation(conversations.create(db.session(), current_user.id, body), with_messages=True), 201


@bp.get("/<conversation_id>")
@jwt_required()
@endpoint("A conversation with its messages", tags=TAGS, responses={200: ConversationDetailOut}, errors=(404,))
def get_conversation(conversation_id: str):
    conv = conversations.owned_conversation(db.session(), current_user.id, conversation_id, with_messages=True)
    return wire.conversation(conv, with_messages=True)


@bp.patch("/<conversation_id>")
@jwt_required()
@endpoint("Change title, model or system prompt", tags=TAGS, body=ConversationPatch,
          responses={200: ConversationDetailOut}, errors=(404,))
def update_conversation(conversation_id: str, body: ConversationPatch):
    conv = conversations.update(db.session(), current_user.id, conversation_id, body)
    return wire.conversation(conv, with_messages=True)


@bp.delete("/<conversation_id>")
@jwt_required()
@endpoint("Delete a conversation and its messages", tags=TAGS, responses={204: None}, errors=(404,))
def delete_conversation(conversation_id: str):
    conversations.delete(db.session(), current_user.id, conversation_id)
    return "", 204


@bp.get("/<conversation_id>/messages")
@jwt_required()
@endpoint("Messages of a conversation, oldest first", tags=TAGS, responses={200: MessagesOut}, errors=(404,))
def list_messages(conversation_id: str):
    conv = conversations.owned_conversation(db.session(), current_user.id, conversation_id, with_messages=True)
    return {"conversationId": conv.id, "messages": [wire.message(m) for m in conv.messages]}


@bp.post("/<conversation_id>/messages")
@jwt_required()
@endpoint("Append a message", tags=TAGS, body=MessageIn, responses={201: MessageOut}, errors=(404, 409))
def add_message(conversation_id: str, body: MessageIn):
    return wire.message(conversations.add_message(db.session(), current_user.id, conversation_id, body)), 201


@bp.post("/batch")
@jwt_required()
@endpoint("Create many conversations at once, all or nothing (a job above BATCH_SYNC_LIMIT items)", tags=TAGS,
          body=BatchCreateIn, responses={201: BatchCreateOut, 202: JobOut}, errors=(409, 422, 503))
def batch_create(body: list[ConversationCreate]):
    created = conversations.batch_create(db.session(), current_user.id, body)
    if isinstance(created, Job):
        return accepted(created)
    return {"success": True, "count": len(created),
            "conversations": [wire.conversation(c, with_messages=True) for c in created]}, 201


@bp.delete("/batch")
@jwt_required()
@endpoint("Delete many conversations and their messages (a job above BATCH_SYNC_LIMIT ids); ids that are not "
          "the caller's are not counted", tags=TAGS, body=BatchDeleteIn,
          responses={200: BatchDeleteOut, 202: JobOut}, errors=(422, 503))
def batch_delete(body: list[str] | BatchIds):
    deleted = conversations.batch_delete(db.session(), current_user.id,
                                         body.ids if isinstance(body, BatchIds) else body)
    if isinstance(deleted, Job):
        return accepted(deleted)
    return {"success": True, "deleted_count": deleted}
