"""All configuration in one pydantic-settings object, read from environment variables.

Grouped by concern; every field has a default that lets `make run` start with no configuration.
The README's configuration table is checked against this class by a unit test.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-insecure-jwt-secret-change-me-0123456789"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # --- runtime ---
    environment: Literal["development", "test", "production"] = Field(
        "development", description="Deployment mode; `production` refuses weak secrets."
    )
    log_level: str = Field("INFO", description="Root log level.")

    # --- data ---
    database_url: str = Field(
        "sqlite:///var/chat_studio.db",
        description="SQLAlchemy URL. PostgreSQL in production (`postgresql+psycopg2://...`); a SQLite file by default.",
    )
    db_pool_size: int = Field(20, description="Connection pool size (PostgreSQL).")
    db_max_overflow: int = Field(40, description="Extra connections allowed above the pool size.")
    db_pool_timeout: int = Field(30, description="Seconds to wait for a pooled connection.")
    db_pool_recycle: int = Field(3600, description="Seconds after which a pooled connection is replaced.")

    # --- redis ---
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for cache, events, blocklist and Celery broker.")
    redis_key_prefix: str = Field("chat:", description="Prefix of every Redis key we write (also the broker's keys).")

    # --- auth ---
    jwt_secret_key: str = Field(DEV_JWT_SECRET, description="HMAC secret for JWTs (≥ 32 characters in production).")
    jwt_access_minutes: int = Field(60, description="Access token lifetime in minutes.")
    jwt_refresh_days: int = Field(30, description="Refresh token lifetime in days.")

    # --- http ---
    max_content_length: int = Field(1_048_576, description="Largest accepted request body in bytes (413 above).")
    ws_allowed_origins: str = Field(
        "*", description="Comma-separated Origins allowed on WebSockets; `*` allows any (development only)."
    )

    # --- conversations ---
    default_model: str = Field("demo-1", description="Model given to a conversation that names none.")
    max_message_chars: int = Field(100_000, description="Longest message content accepted, in characters.")

    # --- celery / flower ---
    celery_task_time_limit: int = Field(900, description="Hard time limit of one task, seconds.")
    celery_visibility_timeout: int = Field(3600, description="Seconds before an unacknowledged task is redelivered.")
    flower_basic_auth: str = Field("admin:admin", description="`user:password` protecting Flower.")
    flower_port: int = Field(5555, description="Port Flower listens on.")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip() for o in self.ws_allowed_origins.split(",") if o.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (never at import time)."""
    return Settings()
