"""Rooms as their members see them: membership checks, the caller's rooms, members with presence,
history, leaving. To anybody who is not a member a room does not exist (NotFound)."""
from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from extensions import ext_chat
from models import ChatMessage, RoomMember, User
from realtime.delivery import is_member, leave_room
from schemas.chat import ROOM_ID_RE
from services.errors import InvalidInput, NotFound


def valid_room_id(room_id: str) -> str:
    if not ROOM_ID_RE.match(room_id):
        raise InvalidInput("room id must be 1-64 characters of letters, digits, `_`, `-` or `.`, starting "
                           "with a letter or digit")
    return room_id


def member_room(user_id: str, room_id: str) -> str:
    valid_room_id(room_id)
    if not is_member(room_id, user_id):
        raise NotFound("room")
    return room_id


def my_rooms(s: Session, user_id: str) -> list[dict]:
    rows = s.scalars(select(RoomMember).where(RoomMember.user_id == user_id)
                     .order_by(RoomMember.joined_at, RoomMember.room_id)).all()
    return [{"id": r.room_id, "joinedAt": r.joined_at} for r in rows]


def members(s: Session, user_id: str, room_id: str) -> list[dict]:
    """Members and whether each has a socket in the room on any web process."""
    member_room(user_id, room_id)
    rows = s.execute(
        select(RoomMember.user_id, User.username, RoomMember.joined_at).join(User, User.id == RoomMember.user_id)
        .where(RoomMember.room_id == room_id).order_by(RoomMember.joined_at, RoomMember.user_id)).all()
    online = ext_chat.presence().room_users(room_id)
    return [{"userId": uid, "username": name, "joinedAt": joined, "online": uid in online}
            for uid, name, joined in rows]


def history(user_id: str, room_id: str) -> Select:
    member_room(user_id, room_id)
    return select(ChatMessage).where(ChatMessage.room_id == room_id)


def leave(user_id: str, room_id: str) -> None:
    leave_room(member_room(user_id, room_id), user_id)
