from __future__ import annotations

from typing import Optional

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, new_id, now_ms


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_id_updated_at", "user_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("conv"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
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

    def to_wire(self, with_messages: bool = False) -> dict:
        data = {
            "id": self.id,
            "userId": self.user_id,
            "title": self.title,
            "model": self.model,
            "systemPrompt": self.system_prompt,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if with_messages:
            data["messages"] = [m.to_wire() for m in self.messages]
        return data


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_timestamp", "conversation_id", "timestamp"),
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

    def to_wire(self) -> dict:
        return {
            "id": self.id,
            "conversationId": self.conversation_id,
            "role": self.role,
            "content": self.content,
            "model": self.model,
            "tokens": self.tokens,
            "timestamp": self.timestamp,
        }
