"""Page-number pagination shared by the list endpoints: `{page, page_size, total, total_pages, <items>}`;
and the `limit` of the cursor-paged ones."""
from __future__ import annotations

import math
from typing import Any, Callable

from flask import request
from sqlalchemy import Select, func, select

from models.db import db
from services.errors import InvalidRequest


def limit_arg(default: int, maximum: int) -> int:
    """The `limit` query parameter of a cursor-paged list: 1 to `maximum`, else 400."""
    try:
        limit = int(request.args.get("limit", str(default)))
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise InvalidRequest(f"limit must be an integer from 1 to {maximum}", param="limit")
    return limit


def paginate(stmt: Select, order_by: tuple, page: int, page_size: int, items_key: str,
             to_wire: Callable[[Any], dict]) -> dict:
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.execute(stmt.order_by(*order_by).offset((page - 1) * page_size).limit(page_size)).scalars()
    return {
        "page": page,
        "page_size": page_size,
        "total": total,
        "total_pages": math.ceil(total / page_size),
        items_key: [to_wire(r) for r in rows],
    }
