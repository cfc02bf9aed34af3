"""Rows behind the OpenAI-compatible API (`/v1`): personal API keys, stored responses, uploaded files.

Completions themselves stay ordinary `chat` jobs (one pipeline); a response row only adds what the
Responses API needs around its job (instructions, the conversation link, metadata).
"""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, new_id, now_ms


class ApiKey(Base):
    """A personal API key: only its SHA-256 is stored; prefix and last 4 characters identify it to people."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_key_hash", "key_hash", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("key"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    expires_at: Mapped[Optional[int]]
    last_used_at: Mapped[Optional[int]]
    revoked_at: Mapped[Optional[int]]

    def __repr__(self) -> str:  # never the hash
        return f"<ApiKey {self.prefix}...{self.last4} of {self.user_id}>"


class StoredResponse(Base):
    """A Responses API object: its `chat` job does the work, this row keeps the request around it."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("resp"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    model: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[Optional[str]] = mapped_column(Text)
    previous_response_id: Mapped[Optional[str]] = mapped_column(String(64))
    input_items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    meta: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    background: Mapped[bool] = mapped_column(default=False)
    max_output_tokens: Mapped[Optional[int]]
    temperature: Mapped[Optional[float]] = mapped_column(Float)
    user_tag: Mapped[Optional[str]] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class StoredFile(Base):
    """A `/v1/files` object. Batch results are files too, written once per batch and purpose."""

    __tablename__ = "v1_files"
    __table_args__ = (UniqueConstraint("batch_id", "purpose"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("file"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # The batch (a `chat_batch` job) whose output or errors this file holds; None for uploads.
    batch_id: Mapped[Optional[str]] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(default=now_ms)
