"""Conversation rows built from validated input, and writes over many at once (shared by requests and batch jobs).

Every function takes the session and the owner's id explicitly, so the same code serves a request
(the caller) and a Celery task (the job's owner), and every query is scoped to that user.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import Conversation, Message, new_id, now_ms
from realtime.cache import mark_user_changed
from schemas.core import ConversationCreate, MessageIn
from services.errors import Conflict, InvalidInput


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
    conv.id = data.id or new_id("conv")
    conv.messages = [build_message(m, seq, ts) for seq, m in enumerate(data.messages)]
    return conv


def build_message(data: MessageIn, seq: int, ts: int) -> Message:
    return Message(id=data.id or new_id("msg"), role=data.role, content=data.content, model=data.model,
                   tokens=data.tokens, timestamp=data.timestamp or ts, seq=seq)


def assign_ids(items: Sequence[ConversationCreate]) -> None:
    """Give every item and message an id up front, so a batch job can resume and stay idempotent."""
    for item in items:
        item.id = item.id or new_id("conv")
        for m in item.messages:
            m.id = m.id or new_id("msg")


def check_batch_ids(s: Session, items: Sequence[ConversationCreate]) -> None:
    """422 for an id repeated inside the batch, 409 for one already stored; both name the item's index."""
    seen_conv: dict[str, int] = {}
    seen_msg: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id in seen_conv:
            raise _item_error(422, i, "id", f"repeats the id of item {seen_conv[item.id]}", "validation_error")
        seen_conv[item.id] = i
        for m in item.messages:
            if m.id in seen_msg:
                raise _item_error(422, i, "messages", f"message id {m.id} appears twice in the batch",
                                  "validation_error")
            seen_msg[m.id] = i
    for chunk in _chunks(list(seen_conv), 1000):
        taken = s.scalars(select(Conversation.id).where(Conversation.id.in_(chunk))).first()
        if taken is not None:
            raise _item_error(409, seen_conv[taken], "id", "conversation id already exists", "conflict")
    for chunk in _chunks(list(seen_msg), 1000):
        taken = s.scalars(select(Message.id).where(Message.id.in_(chunk))).first()
        if taken is not None:
            raise _item_error(409, seen_msg[taken], "messages", f"message id {taken} already exists", "conflict")


def _item_error(status: int, index: int, field: str, msg: str, code: str) -> Conflict | InvalidInput:
    cls = Conflict if status == 409 else InvalidInput
    return cls(f"item {index}: {field} {msg}", code=code,
               details=[{"loc": ["body", index, field], "msg": msg, "type": code}])


def insert_conversations(s: Session, user_id: str, items: Iterable[ConversationCreate],
                         default_model: str) -> list[Conversation]:
    convs = [build_conversation(user_id, item, default_model) for item in items]
    s.add_all(convs)
    s.flush()
    mark_user_changed(s, user_id, membership=True)
    return convs


def delete_conversations(s: Session, user_id: str, ids: Sequence[str]) -> int:
    """Delete the user's conversations among `ids` (messages go by ON DELETE CASCADE); others are ignored."""
    deleted = 0
    for chunk in _chunks(list(dict.fromkeys(ids)), 1000):
        deleted += s.execute(
            delete(Conversation).where(Conversation.user_id == user_id, Conversation.id.in_(chunk))
        ).rowcount
    if deleted:
        mark_user_changed(s, user_id, membership=True)
    return deleted


def _chunks(seq: list, size: int) -> Iterable[list]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]
