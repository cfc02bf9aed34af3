from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, new_id, now_ms

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class Job(Base):
    """A unit of queued work; the row, not Celery's result backend, is the source of truth."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_id_created_at", "user_id", "created_at"),
        Index("ix_jobs_status_updated_at", "status", "updated_at"),
        Index("ix_jobs_user_id_idempotency_key", "user_id", "idempotency_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("job"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    error: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    # `{done, total}` for jobs that work through many items (batches); None for completions.
    progress: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(255))
    request_hash: Mapped[Optional[str]] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # The batch a chat job belongs to (a job of kind `chat_batch` that only tracks its children).
    parent_id: Mapped[Optional[str]] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms, onupdate=now_ms)
    started_at: Mapped[Optional[int]]
    finished_at: Mapped[Optional[int]]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES
