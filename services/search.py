"""Case-insensitive substring search over one user's titles and messages (`GET /api/search`).

On PostgreSQL both `ILIKE` predicates are answered by the trigram GIN indexes of
`models/conversation.py` (why trigrams and not full-text search is written there). The query is
matched literally: `%`, `_` and `\\` are escaped, everything else is data in a bound parameter.
"""
from __future__ import annotations

import math

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import Session, aliased

from models import Conversation, Message
from schemas import wire
from schemas.core import SearchQuery
from services.errors import InvalidInput

_ESCAPE = "\\"


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in `text` escaped, so they match themselves."""
    escaped = text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")
    return f"%{escaped}%"


def matching_conversations(user_id: str, pattern: str, query: SearchQuery) -> Select:
    """Ids of the user's conversations whose title or any message contains the pattern, filtered.

    A UNION of two index-served lookups rather than `title ILIKE .. OR EXISTS (..)`, which the
    planner can only answer by walking every conversation of the user.
    """
    by_title = select(Conversation.id).where(
        Conversation.user_id == user_id, Conversation.title.ilike(pattern, escape=_ESCAPE))
    # Not joined to conversations here: the outer query scopes to the user, and hashing every
    # conversation of a large account to filter message hits early cost more than it saved.
    by_message = select(Message.conversation_id).where(Message.content.ilike(pattern, escape=_ESCAPE))
    hits = union(by_title, by_message).subquery()
    stmt = select(Conversation).where(Conversation.user_id == user_id, Conversation.id.in_(select(hits.c[0])))
    if query.model:
        stmt = stmt.where(Conversation.model == query.model)
    if query.date_from is not None:
        stmt = stmt.where(Conversation.created_at >= query.date_from)
    if query.date_to is not None:
        stmt = stmt.where(Conversation.created_at <= query.date_to)
    return stmt


def search(s: Session, user_id: str, query: SearchQuery) -> dict:
    if query.date_from is not None and query.date_to is not None and query.date_from > query.date_to:
        raise InvalidInput("date_from is after date_to",
                           details=[{"loc": ["query", "date_from"], "msg": "after date_to", "type": "value_error"}])
    pattern = like_pattern(query.query)
    matches = matching_conversations(user_id, pattern, query)
    # The total rides along on every row (one pass over the matches instead of two); a page past
    # the end has no rows to carry it and counts separately.
    page = s.execute(
        matches.add_columns(Conversation.title.ilike(pattern, escape=_ESCAPE).label("title_hit"),
                            func.count().over().label("total"))
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .offset((query.page - 1) * query.page_size).limit(query.page_size)
    ).all()
    if page:
        total = page[0].total
    else:
        total = s.scalar(select(func.count()).select_from(matches.subquery())) if query.page > 1 else 0
    first_hit = _first_matching_messages(s, [c.id for c, title_hit, _ in page if not title_hit], pattern)
    results = []
    for conv, title_hit, _ in page:
        if title_hit:
            results.append({"conversation": wire.conversation(conv), "match_type": "title"})
        else:
            msg = first_hit.get(conv.id)
            results.append({"conversation": wire.conversation(conv), "match_type": "message",
                            "matched_message": wire.message(msg) if msg else None})
    return {
        "query": query.query,
        "count": total,
        "page": query.page,
        "page_size": query.page_size,
        "total": total,
        "total_pages": math.ceil(total / query.page_size),
        "results": results,
    }


def _first_matching_messages(s: Session, conversation_ids: list[str], pattern: str) -> dict[str, Message]:
    """The earliest matching message of each conversation, in one query."""
    if not conversation_ids:
        return {}
    ranked = (
        select(Message, func.row_number().over(partition_by=Message.conversation_id,
                                               order_by=(Message.timestamp, Message.seq)).label("rn"))
        .where(Message.conversation_id.in_(conversation_ids), Message.content.ilike(pattern, escape=_ESCAPE))
        .subquery()
    )
    first = aliased(Message, ranked)
    return {m.conversation_id: m for m in s.scalars(select(first).where(ranked.c.rn == 1))}
