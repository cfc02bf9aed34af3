"""Alembic environment: the URL comes from the settings object (DATABASE_URL), never from alembic.ini."""
from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from models import Base
from models.base import comparable_on
from models.db import make_engine
from settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _settings() -> Settings:
    url = config.attributes.get("database_url")
    return Settings(database_url=url) if url else Settings()


def run_migrations_offline() -> None:
    context.configure(url=_settings().database_url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    settings = _settings()
    engine = make_engine(settings)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=settings.is_sqlite, compare_type=True,
                          include_object=comparable_on(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
