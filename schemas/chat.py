"""Chat: the JSON frames a client sends on a chat socket, and the REST models of rooms and deliveries.

Frames keep the seed's snake_case (`message_id`, `room_id`); REST bodies follow SPEC §2 (camelCase).
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from schemas.core import PageMeta

ROOM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
ROOM_ID_RE = re.compile(ROOM_ID_PATTERN)
RoomId = Annotated[str, StringConstraints(pattern=ROOM_ID_PATTERN)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _int_to_str(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# The sender's own id for a message (the seed lets clients send numbers or strings).
ClientMessageId = Annotated[str, BeforeValidator(_int_to_str), StringConstraints(min_length=1, max_length=64)]
MessageId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False)


class ChatFrame(_Frame):
    """A room message (`room_id` needed on the personal socket); on a private socket, a private message."""

    type: Literal["chat"]
    content: str
    message_id: Optional[ClientMessageId] = None
    room_id: Optional[RoomId] = None


class PrivateFrame(_Frame):
    type: Literal["private"]
    content: str
    message_id: Optional[ClientMessageId] = None
    to: Optional[UserId] = None


class AckFrame(_Frame):
    type: Literal["ack"]
    ids: Annotated[list[MessageId], Field(min_length=1, max_length=1000)]


class PingFrame(_Frame):
    type: Literal["ping"]


class LeaveFrame(_Frame):
    type: Literal["leave"]


class FollowJobFrame(_Frame):
    """Personal socket: relay one of the caller's jobs' events, from `after` on, until its terminal event."""

    type: Literal["follow_job"]
    job_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    after: Annotated[int, Field(ge=0)] = 0
    epoch: Optional[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,64}$")]] = None


ClientFrame = Annotated[Union[ChatFrame, PrivateFrame, AckFrame, PingFrame, LeaveFrame, FollowJobFrame],
                        Field(discriminator="type")]


# --- REST ---------------------------------------------------------------------------------------

class RoomOut(BaseModel):
    id: str
    joinedAt: int


class RoomList(BaseModel):
    rooms: list[RoomOut]


class RoomMemberOut(BaseModel):
    userId: str
    username: str
    joinedAt: int
    online: bool


class RoomMembersOut(BaseModel):
    roomId: str
    members: list[RoomMemberOut]


class ChatFrameOut(BaseModel):
    """A message as its recipients receive it (`chat_message` or `private_message`)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["chat_message", "private_message"]
    id: int
    content: str
    timestamp: int
    message_id: Optional[str]


class RoomMessagePage(PageMeta):
    messages: list[ChatFrameOut]


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=200)] = 50


DeliveryState = Literal["pending", "delivered", "dead"]


class DeliveryOut(BaseModel):
    id: str
    messageId: int
    recipientId: str
    senderId: str
    kind: Literal["room", "private"]
    roomId: Optional[str]
    state: DeliveryState
    attempts: int
    nextAttemptAt: int
    lastError: Optional[str]
    createdAt: int
    ackedAt: Optional[int]
    frame: ChatFrameOut


class DeliveryPage(PageMeta):
    deliveries: list[DeliveryOut]


class DeliveryQuery(HistoryQuery):
    state: Optional[DeliveryState] = None
    role: Literal["recipient", "sender", "any"] = "any"


class DeadQuery(HistoryQuery):
    role: Literal["recipient", "sender", "any"] = "any"
