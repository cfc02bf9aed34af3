"""`/api/conversations`: CRUD for the caller's conversations and their messages.

Every query filters on the caller's id: another user's conversation is indistinguishable from
one that does not exist (404).
"""
from __future__ import annotations

from flask import Blueprint, current_app
from flask_jwt_extended import current_user, jwt_required
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from models import Conversation, Message, new_id, now_ms
from models.db import db
from web.errors import ApiError, not_found
from web.openapi import endpoint
from web.pagination import paginate
from web.schemas import (
    ConversationCreate,
    ConversationDetailOut,
    ConversationPage,
    ConversationPatch,
    ListQuery,
    MessageIn,
    MessageOut,
    MessagesOut,
)

bp = Blueprint("conversations", __name__, url_prefix="/api/conversations")
TAGS = ["conversations"]

_SORT_COLUMNS = {"createdAt": Conversation.created_at, "updatedAt": Conversation.updated_at,
                 "title": Conversation.title}


def owned_conversation(conversation_id: str, *, with_messages: bool = False) -> Conversation:
    stmt = select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == current_user.id)
    if with_messages:
        stmt = stmt.options(selectinload(Conversation.messages))
    conv = db.session.execute(stmt).scalar_one_or_none()
    if conv is None:
        raise not_found("conversation")
    return conv


def build_conversation(user_id: str, data: ConversationCreate, default_model: str) -> Conversation:
    """A new Conversation (with its messages) from validated input; not yet added to a session."""
    ts = now_ms()
    created = data.created_at or ts
    conv = Conversation(
        user_id=user_id,
        title=data.title,
        model=data.model or default_model,
        system_prompt=data.system_prompt,
        created_at=created,
        updated_at=max(data.updated_at or ts, created),
    )
    if data.id:
        conv.id = data.id
    conv.messages = [_build_message(m, seq, ts) for seq, m in enumerate(data.messages)]
    return conv


def _build_message(data: MessageIn, seq: int, ts: int) -> Message:
    return Message(id=data.id or new_id("msg"), role=data.role, content=data.content, model=data.model,
                   tokens=data.tokens, timestamp=data.timestamp or ts, seq=seq)


def _commit_or_conflict(what: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, f"{what} id already exists", code="conflict") from None


@bp.get("")
@jwt_required()
@endpoint("List the caller's conversations (paginated, sorted)", tags=TAGS, query=ListQuery,
          responses={200: ConversationPage})
def list_conversations(query: ListQuery):
    column = _SORT_COLUMNS[query.sort_by]
    ascending = query.sort_order == "asc"
    order = (column.asc(), Conversation.id.asc()) if ascending else (column.desc(), Conversation.id.desc())
    stmt = select(Conversation).where(Conversation.user_id == current_user.id)
    return paginate(stmt, order, query.page, query.page_size, "conversations", Conversation.to_wire)


@bp.post("")
@jwt_required()
@endpoint("Create a conversation (optionally with its messages and a client-chosen id)", tags=TAGS,
          body=ConversationCreate, responses={201: ConversationDetailOut}, errors=(409,))
def create_conversation(body: ConversationCreate):
    conv = build_conversation(current_user.id, body, current_app.extensions["settings"].default_model)
    db.session.add(conv)
    _commit_or_conflict("conversation or message")
    return conv.to_wire(with_messages=True), 201


@bp.get("/<conversation_id>")
@jwt_required()
@endpoint("A conversation with its messages", tags=TAGS, responses={200: ConversationDetailOut}, errors=(404,))
def get_conversation(conversation_id: str):
    return owned_conversation(conversation_id, with_messages=True).to_wire(with_messages=True)


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
    db.session.commit()
    return conv.to_wire(with_messages=True)


@bp.delete("/<conversation_id>")
@jwt_required()
@endpoint("Delete a conversation and its messages", tags=TAGS, responses={204: None}, errors=(404,))
def delete_conversation(conversation_id: str):
    conv = owned_conversation(conversation_id)
    db.session.delete(conv)
    db.session.commit()
    return "", 204


@bp.get("/<conversation_id>/messages")
@jwt_required()
@endpoint("Messages of a conversation, oldest first", tags=TAGS, responses={200: MessagesOut}, errors=(404,))
def list_messages(conversation_id: str):
    conv = owned_conversation(conversation_id, with_messages=True)
    return {"conversationId": conv.id, "messages": [m.to_wire() for m in conv.messages]}


@bp.post("/<conversation_id>/messages")
@jwt_required()
@endpoint("Append a message", tags=TAGS, body=MessageIn, responses={201: MessageOut}, errors=(404, 409))
def add_message(conversation_id: str, body: MessageIn):
    conv = owned_conversation(conversation_id)
    msg = append_message(conv, body)
    _commit_or_conflict("message")
    return msg.to_wire(), 201


def append_message(conv: Conversation, data: MessageIn) -> Message:
    """Add a message at the end of a conversation and touch the conversation (caller commits)."""
    s = db.session
    next_seq = (s.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conv.id)) or 0) + 1
    ts = now_ms()
    msg = _build_message(data, next_seq, ts)
    msg.conversation_id = conv.id
    s.add(msg)
    conv.updated_at = ts
    return msg
