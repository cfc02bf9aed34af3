"""Engine and session handling shared by the web app and the Celery worker.

One `Database` per process: created from settings on `init`, never at import time.
`session` is a scoped session (thread- or greenlet-local under gevent) removed after every
request and every task.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from werkzeug.local import LocalProxy

from settings import Settings


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if settings.is_sqlite:
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # SQLite's own lower() folds ASCII only; Python's folds all of Unicode, as PostgreSQL's
            # ILIKE does, so case-insensitive search behaves the same on both.
            dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)

        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
    )


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _ensure_sqlite_dir(url: str) -> None:
    import os

    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


EXTENSION_KEY = "chat_studio.db"


class Database:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session: scoped_session[Session] | None = None

    def init(self, settings: Settings) -> "Database":
        self.engine = make_engine(settings)
        self.session = scoped_session(sessionmaker(bind=self.engine, expire_on_commit=False))
        return self

    def init_app(self, app, settings: Settings) -> None:
        self.init(settings)
        app.extensions[EXTENSION_KEY] = self

        @app.teardown_appcontext
        def _remove_session(exc: BaseException | None) -> None:
            if self.session is not None:
                if exc is not None:
                    self.session.rollback()
                self.session.remove()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error (worker code)."""
        assert self.session is not None, "Database.init was not called"
        s = self.session()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            self.session.remove()


@contextmanager
def self_committing(s: Session) -> Iterator[None]:
    """The session's statements in the block commit themselves: no BEGIN and COMMIT round trips.

    Call it before the session has begun a transaction, and flush in the block. On psycopg2 the
    driver's own switch is flipped, which costs nothing; SQLAlchemy's AUTOCOMMIT isolation level
    costs a round trip to set it and again to reset it when the connection goes back to the pool."""
    if s.get_bind().dialect.driver != "psycopg2":
        s.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield
        return
    dbapi = s.connection().connection.dbapi_connection
    dbapi.autocommit = True
    try:
        yield
    finally:
        dbapi.autocommit = False  # no transaction is open, so nothing is sent


def _current_database() -> Database:
    from flask import current_app

    return current_app.extensions[EXTENSION_KEY]


# The current app's Database (web request or Celery task, both run in an app context).
db: Database = LocalProxy(_current_database)  # type: ignore[assignment]
