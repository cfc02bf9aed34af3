"""Conversations and their messages, as one user sees and changes them: owned lookups, cached
list pages, create, change, delete, append, and batches (done at once, or as a job when large)."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from extensions.ext_cache import response_cache
from extensions.ext_settings import settings
from models import Conversation, Job, Message, now_ms
from realtime.cache import MEMBERSHIP, mark_user_changed
from schemas.core import ConversationCreate, ConversationPatch, ListQuery, MessageIn
from services import conversation_batches
from services.conversation_batches import BATCH_CREATE, BATCH_DELETE
from services.conversation_queries import count_conversations, list_page, user_stats
from services.conversation_rows import (
    assign_ids,
    build_conversation,
    build_message,
    check_batch_ids,
    delete_conversations,
    insert_conversations,
)
from services.errors import Conflict, InvalidInput, NotFound


def owned_conversation(s: Session, user_id: str, conversation_id: str, *,
                       with_messages: bool = False) -> Conversation:
    stmt = select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    if with_messages:
        stmt = stmt.options(selectinload(Conversation.messages))
    conv = s.execute(stmt).scalar_one_or_none()
    if conv is None:
        raise NotFound("conversation")
    return conv


def _commit_or_conflict(s: Session, what: str) -> None:
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        raise Conflict(f"{what} id already exists") from None


def page(s: Session, user_id: str, query: ListQuery) -> dict:
    """A list page, from the cache when nothing the user owns changed since it was computed."""
    cache = response_cache()
    total = cache.get_or_compute(user_id, "conversations.count", {}, lambda: count_conversations(s, user_id),
                                 scope=MEMBERSHIP)
    return cache.get_or_compute(user_id, "conversations.page", query.model_dump(),
                                lambda: list_page(s, user_id, query, total))


def stats(s: Session, user_id: str) -> dict:
    """The user's totals, cached until their next write."""
    return response_cache().get_or_compute(user_id, "stats", {}, lambda: user_stats(s, user_id))


def create(s: Session, user_id: str, data: ConversationCreate) -> Conversation:
    conv = build_conversation(user_id, data, settings().default_model)
    s.add(conv)
    mark_user_changed(s, user_id, membership=True)
    _commit_or_conflict(s, "conversation or message")
    return conv


def update(s: Session, user_id: str, conversation_id: str, patch: ConversationPatch) -> Conversation:
    conv = owned_conversation(s, user_id, conversation_id, with_messages=True)
    changes = patch.model_dump(exclude_unset=True)
    for field in ("title", "model"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} cannot be null")
    for field, value in changes.items():
        setattr(conv, field, value)
    if changes:
        conv.updated_at = now_ms()
        mark_user_changed(s, user_id)
    s.commit()
    return conv


def delete(s: Session, user_id: str, conversation_id: str) -> None:
    s.delete(owned_conversation(s, user_id, conversation_id))
    mark_user_changed(s, user_id, membership=True)
    s.commit()


def append_message(s: Session, conv: Conversation, data: MessageIn) -> Message:
    """Add a message at the end of a conversation and touch the conversation (caller commits)."""
    next_seq = (s.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conv.id)) or 0) + 1
    ts = now_ms()
    msg = build_message(data, next_seq, ts)
    msg.conversation_id = conv.id
    s.add(msg)
    conv.updated_at = ts
    mark_user_changed(s, conv.user_id)
    return msg


def add_message(s: Session, user_id: str, conversation_id: str, data: MessageIn) -> Message:
    msg = append_message(s, owned_conversation(s, user_id, conversation_id), data)
    _commit_or_conflict(s, "message")
    return msg


# ---------------------------------------------------------------- batches

def _check_batch_size(n: int) -> None:
    limit = settings().batch_max_items
    if n > limit:
        raise InvalidInput(f"a batch holds at most {limit} items (got {n})",
                           details=[{"loc": ["body"], "msg": f"at most {limit} items", "type": "too_long"}])


def batch_create(s: Session, user_id: str, items: list[ConversationCreate]) -> list[Conversation] | Job:
    """All or nothing: the conversations, or (above BATCH_SYNC_LIMIT items) the job that creates them."""
    _check_batch_size(len(items))
    assign_ids(items)
    check_batch_ids(s, items)
    if len(items) > settings().batch_sync_limit:
        dumped = [item.model_dump(mode="json", exclude_none=True) for item in items]
        return conversation_batches.submit(s, user_id, BATCH_CREATE, {"items": dumped, "count": len(dumped)})
    try:
        convs = insert_conversations(s, user_id, items, settings().default_model)
    except IntegrityError:  # an id was taken between the check and the insert
        s.rollback()
        raise Conflict("a conversation or message id already exists") from None
    _commit_or_conflict(s, "conversation or message")
    return convs


def batch_delete(s: Session, user_id: str, ids: list[str]) -> int | Job:
    """How many of the user's conversations were deleted, or (above BATCH_SYNC_LIMIT) the job doing it."""
    ids = list(dict.fromkeys(ids))
    _check_batch_size(len(ids))
    if len(ids) > settings().batch_sync_limit:
        return conversation_batches.submit(s, user_id, BATCH_DELETE, {"ids": ids, "count": len(ids)})
    deleted = delete_conversations(s, user_id, ids)
    s.commit()
    return deleted
