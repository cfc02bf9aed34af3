"""Conversations and their messages: owned lookups, list pages, stats, and writes over many at once.

Every function takes the session and the owner's id explicitly, so the same code serves a
request (the caller) and a Celery task (the job's owner), and every query is scoped to that user.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Iterable, Sequence

from sqlalchemy import Select, delete, func, literal, select, tuple_
from sqlalchemy.orm import Session, aliased, selectinload

from models import Conversation, Message, User, new_id, now_ms
from realtime.cache import mark_user_changed
from schemas import wire
from services.errors import Conflict, InvalidInput, NotFound
from schemas.core import ConversationCreate, ListQuery, MessageIn

SORT_COLUMNS = {"createdAt": Conversation.created_at, "updatedAt": Conversation.updated_at,
                "title": Conversation.title}


# ---------------------------------------------------------------- one conversation

def owned_conversation(s: Session, user_id: str, conversation_id: str, *,
                       with_messages: bool = False) -> Conversation:
    stmt = select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    if with_messages:
        stmt = stmt.options(selectinload(Conversation.messages))
    conv = s.execute(stmt).scalar_one_or_none()
    if conv is None:
        raise NotFound("conversation")
    return conv


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


# ---------------------------------------------------------------- building rows

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


# ---------------------------------------------------------------- list pages

def encode_cursor(query: ListQuery, conv: Conversation) -> str:
    value = getattr(conv, SORT_COLUMNS[query.sort_by].key)
    raw = json.dumps([query.sort_by, query.sort_order, value, conv.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(query: ListQuery) -> tuple[Any, str]:
    """The (sort value, id) a cursor points after; 422 if it is malformed or for another order."""
    assert query.after is not None
    try:
        raw = base64.urlsafe_b64decode(query.after + "=" * (-len(query.after) % 4))
        sort_by, sort_order, value, conv_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise _bad_cursor("is not a cursor this API issued") from None
    if (sort_by, sort_order) != (query.sort_by, query.sort_order):
        raise _bad_cursor("was issued for another sort_by/sort_order")
    expected = str if query.sort_by == "title" else int
    if type(value) is not expected or not isinstance(conv_id, str):
        raise _bad_cursor("is not a cursor this API issued")
    return value, conv_id


def _bad_cursor(why: str) -> InvalidInput:
    return InvalidInput(f"after: the cursor {why}",
                        details=[{"loc": ["query", "after"], "msg": f"the cursor {why}", "type": "value_error"}])


def count_conversations(s: Session, user_id: str) -> int:
    """The trigger-kept counter, read fresh (not from an identity-mapped `User` that may be stale)."""
    return s.scalar(select(User.conversation_count).where(User.id == user_id)) or 0


def list_page(s: Session, user_id: str, query: ListQuery, total: int) -> dict:
    """One page of summaries, by page number (OFFSET) or, with `after`, by keyset from a cursor."""
    column = SORT_COLUMNS[query.sort_by]
    desc = query.sort_order == "desc"
    stmt: Select = select(Conversation).where(Conversation.user_id == user_id)
    stmt = stmt.order_by(column.desc(), Conversation.id.desc()) if desc else stmt.order_by(column.asc(),
                                                                                          Conversation.id.asc())
    if query.after is not None:
        value, last_id = decode_cursor(query)
        key, bound = tuple_(column, Conversation.id), tuple_(literal(value), literal(last_id))
        stmt = stmt.where(key < bound if desc else key > bound)
        page = None
    else:
        stmt = stmt.offset((query.page - 1) * query.page_size)
        page = query.page
    rows = list(s.scalars(stmt.limit(query.page_size + 1)))
    more = len(rows) > query.page_size
    rows = rows[: query.page_size]
    return {
        "page": page,
        "page_size": query.page_size,
        "total": total,
        "total_pages": math.ceil(total / query.page_size),
        "conversations": summaries(s, rows),
        "next_cursor": encode_cursor(query, rows[-1]) if more and rows else None,
    }


def summaries(s: Session, convs: Sequence[Conversation]) -> list[dict]:
    """Conversations with message count and last message: one query for the whole page (no N+1)."""
    ids = [c.id for c in convs]
    per_conv: dict[str, tuple[int, Message]] = {}
    if ids:
        ranked = (
            select(
                Message,
                func.count().over(partition_by=Message.conversation_id).label("n"),
                func.row_number().over(partition_by=Message.conversation_id,
                                       order_by=(Message.timestamp.desc(), Message.seq.desc())).label("rn"),
            )
            .where(Message.conversation_id.in_(ids))
            .subquery()
        )
        last = aliased(Message, ranked)
        for msg, n in s.execute(select(last, ranked.c.n).where(ranked.c.rn == 1)):
            per_conv[msg.conversation_id] = (n, msg)
    out = []
    for conv in convs:
        n, msg = per_conv.get(conv.id, (0, None))
        out.append({**wire.conversation(conv), "messageCount": n, "lastMessage": wire.message(msg) if msg else None})
    return out


# ---------------------------------------------------------------- stats

def user_stats(s: Session, user_id: str) -> dict:
    conversations = count_conversations(s, user_id)
    mine = select(Conversation.id).where(Conversation.user_id == user_id)
    by_role = dict(s.execute(
        select(Message.role, func.count()).where(Message.conversation_id.in_(mine)).group_by(Message.role)
    ).all())
    model = func.coalesce(Message.model, Conversation.model)
    by_model = {m: int(t) for m, t in s.execute(
        select(model, func.coalesce(func.sum(Message.tokens), 0))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.user_id == user_id, Message.tokens.is_not(None))
        .group_by(model).order_by(model)
    ).all()}
    return {
        "conversations": conversations,
        "messages": sum(by_role.values()),
        "messagesByRole": by_role,
        "tokens": {"total": sum(by_model.values()), "byModel": by_model},
    }


# ---------------------------------------------------------------- batch writes

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
