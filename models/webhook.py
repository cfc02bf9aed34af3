"""Webhook endpoints a user registers and the deliveries to them (the outbox: a delivery row is
written in the same transaction as the job's final write, so no ended job loses its call)."""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, new_id, now_ms


class WebhookEndpoint(Base):
    """A URL called when the user's jobs end; its signing secret is stored encrypted (it must be
    read back to sign), shown once in clear."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("we"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    secret_hint: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class WebhookDelivery(Base):
    """One event for one endpoint: `pending` until a 2xx (`delivered`) or the attempt limit (`dead`).
    Every attempt of it carries the same `webhook-id` (its `event_id`), so receivers can deduplicate."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("whd"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_status: Mapped[Optional[int]]
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    response_excerpt: Mapped[Optional[str]] = mapped_column(Text)
    next_attempt_at: Mapped[Optional[int]]
    locked_until: Mapped[Optional[int]]
    created_at: Mapped[int] = mapped_column(default=now_ms)
    delivered_at: Mapped[Optional[int]]
