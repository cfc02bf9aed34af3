"""Reading many conversations: cursor and offset pages with summaries, counts and stats, scoped to one user."""
from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Sequence

from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.orm import Session, aliased

from models import Conversation, Message, User
from schemas import wire
from schemas.core import ListQuery
from services.errors import InvalidInput

SORT_COLUMNS = {"createdAt": Conversation.created_at, "updatedAt": Conversation.updated_at,
                "title": Conversation.title}


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
