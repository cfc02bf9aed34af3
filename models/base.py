"""Declarative base, naming convention and small column helpers shared by every model."""
from __future__ import annotations

import time
import uuid

from sqlalchemy import BigInteger, MetaData
from sqlalchemy.orm import DeclarativeBase

# A fixed naming convention makes constraint names identical on PostgreSQL and SQLite,
# so Alembic autogenerate compares cleanly on both.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger}


def now_ms() -> int:
    """Epoch milliseconds: the wire format of every timestamp (SPEC §2)."""
    return int(time.time() * 1000)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def comparable_on(dialect_name: str):
    """An Alembic `include_object` hook that leaves out indexes built only on another dialect.

    Autogenerate ignores `Index.ddl_if(dialect=...)`, so without this SQLite would always "miss"
    the PostgreSQL-only trigram indexes.
    """

    def include_object(obj, _name, type_, _reflected, _compare_to) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None) if type_ == "index" else None
        return ddl_if is None or ddl_if.dialect in (None, dialect_name)

    return include_object
