"""Rooms, room and private messages, and one delivery row per recipient of a message.

A message is committed together with its deliveries before anything is pushed to a socket, so a
crash at any later point leaves a `pending` delivery that a reconnect or the worker sends again.
Message ids are an autoincrementing integer: they order a recipient's deliveries and are what a
client acknowledges and de-duplicates by.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, new_id, now_ms

DELIVERY_STATES = ("pending", "delivered", "dead")
# SQLite only autoincrements an `INTEGER PRIMARY KEY`; PostgreSQL gets a BIGINT identity.
_MESSAGE_ID = BigInteger().with_variant(Integer(), "sqlite")


class RoomMember(Base):
    """Membership outlives a socket: a member who is offline still receives the room's messages."""

    __tablename__ = "room_members"
    __table_args__ = (Index("ix_room_members_user_id", "user_id"),)

    room_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[int] = mapped_column(default=now_ms)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_room_id_id", "room_id", "id"),
        # The sender's own `message_id`: a resend after a lost `message_sent` is the same message.
        Index("ix_chat_messages_sender_id_client_message_id", "sender_id", "client_message_id", unique=True),
        Index("ix_chat_messages_recipient_id", "recipient_id"),
    )

    id: Mapped[int] = mapped_column(_MESSAGE_ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "room" | "private"
    room_id: Mapped[Optional[str]] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient_id: Mapped[Optional[str]] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_message_id: Mapped[Optional[str]] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(default=now_ms)

    def to_frame(self) -> dict:
        """The frame recipients receive (the seed's `chat_message` / `private_message` types plus `id`; fields
        camelCase like every resource of ours, README "Naming")."""
        if self.kind == "room":
            return {"type": "chat_message", "id": self.id, "roomId": self.room_id, "userId": self.sender_id,
                    "content": self.content, "timestamp": self.created_at, "messageId": self.client_message_id}
        return {"type": "private_message", "id": self.id, "from": self.sender_id, "to": self.recipient_id,
                "content": self.content, "timestamp": self.created_at, "messageId": self.client_message_id}


class Delivery(Base):
    """One recipient's copy of a message: `pending` until acknowledged (`delivered`) or given up (`dead`)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_user_id_message_id", "user_id", "message_id", unique=True),
        Index("ix_deliveries_message_id", "message_id"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("dlv"))
    message_id: Mapped[int] = mapped_column(_MESSAGE_ID, ForeignKey("chat_messages.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[int] = mapped_column(default=now_ms)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms, onupdate=now_ms)
    acked_at: Mapped[Optional[int]]

    message: Mapped[ChatMessage] = relationship(lazy="joined")

    def to_wire(self) -> dict:
        m = self.message
        return {"id": self.id, "messageId": m.id, "recipientId": self.user_id, "senderId": m.sender_id,
                "kind": m.kind, "roomId": m.room_id, "state": self.state, "attempts": self.attempts,
                "nextAttemptAt": self.next_attempt_at, "lastError": self.last_error, "createdAt": self.created_at,
                "ackedAt": self.acked_at, "frame": m.to_frame()}
