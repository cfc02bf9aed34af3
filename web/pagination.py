"""Page-number pagination shared by the list endpoints: `{page, page_size, total, total_pages, <items>}`."""
from __future__ import annotations

import math
from typing import Any, Callable

from sqlalchemy import Select, func, select

from models.db import db


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
