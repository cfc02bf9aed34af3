from __future__ import annotations

from typing import Optional

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, new_id, now_ms


def _trigram_index(name: str, column: str) -> Index:
    """A trigram GIN index (PostgreSQL only) serving case-insensitive substring search.

    Trigrams rather than full-text search: the product promises substring matches (the seed's
    `query in text`), and conversations with an AI are full of code, identifiers and punctuation
    that a full-text parser splits, stems or drops. pg_trgm answers `ILIKE '%...%'` from the index
    for any pattern with at least one trigram; SQLite gets no such index and scans.
    """
    return Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}).ddl_if(
        dialect="postgresql")


class Conversation(Base):
    __tablename__ = "conversations"
    # One index per sort order, each ending in the id tie-breaker, so a page (by offset or cursor)
    # is an index range scan whatever `sort_by` says.
    __table_args__ = (
        Index("ix_conversations_user_id_updated_at_id", "user_id", "updated_at", "id"),
        Index("ix_conversations_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_conversations_user_id_title_id", "user_id", "title", "id"),
        _trigram_index("ix_conversations_title_trgm", "title"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("conv"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(100))
    system_prompt: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)

    messages: Mapped[list["Message"]] = relationship(
        back_populates="conversation",
        order_by="(Message.timestamp, Message.seq)",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_timestamp", "conversation_id", "timestamp"),
        _trigram_index("ix_messages_content_trgm", "content"),
        # One assistant answer per job, whatever a redelivered task does.
        UniqueConstraint("job_id", name="uq_messages_job_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("msg"))
    # Insertion order within a conversation, for messages that share a millisecond.
    seq: Mapped[int] = mapped_column(default=0)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[Optional[str]] = mapped_column(String(100))
    tokens: Mapped[Optional[int]]
    timestamp: Mapped[int] = mapped_column(default=now_ms)
    job_id: Mapped[Optional[str]] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
