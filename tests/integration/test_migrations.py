"""Alembic builds the schema from nothing on PostgreSQL and SQLite, and agrees with the models."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from models import Base
from models.base import comparable_on
from tests.support import ROOT


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": comparable_on(conn.dialect.name)})
        result = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return result


def test_postgres_schema_matches_models(database_url):
    assert diff(database_url) == []  # the session database was built by `alembic upgrade head`


def test_sqlite_from_nothing_and_back(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    assert diff(url) == []
    command.downgrade(cfg, "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    command.upgrade(cfg, "head")
    assert diff(url) == []


def test_every_foreign_key_is_indexed(database_url):
    engine = create_engine(database_url)
    insp = inspect(engine)
    for table in insp.get_table_names():
        leading = {tuple(ix["column_names"][:1]) for ix in insp.get_indexes(table)}
        leading |= {tuple(uq["column_names"][:1]) for uq in insp.get_unique_constraints(table)}
        for fk in insp.get_foreign_keys(table):
            assert tuple(fk["constrained_columns"][:1]) in leading, (table, fk["constrained_columns"])
    engine.dispose()
