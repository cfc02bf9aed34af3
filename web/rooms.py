"""Rooms over REST: the caller's rooms, a room's members (with presence) and its history.

Anyone may join a room by opening `/ws/room/<id>`; a room's members and messages are visible to
its members only, so to anybody else the room does not exist (404).
"""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from sqlalchemy import select

from models import ChatMessage, RoomMember, User
from models.db import db
from realtime.delivery import is_member, leave_room
from extensions import ext_chat
from schemas import wire
from realtime.chat_sockets import valid_room_id
from web.errors import not_found
from web.openapi import endpoint
from web.pagination import paginate
from schemas.chat import HistoryQuery, RoomList, RoomMembersOut, RoomMessagePage

bp = Blueprint("rooms", __name__)
TAGS = ["rooms"]


def member_room(room_id: str) -> str:
    valid_room_id(room_id)
    if not is_member(room_id, current_user.id):
        raise not_found("room")
    return room_id


@bp.get("/api/rooms")
@jwt_required()
@endpoint("Rooms the caller is a member of", tags=TAGS, responses={200: RoomList})
def my_rooms():
    rows = db.session.scalars(select(RoomMember).where(RoomMember.user_id == current_user.id)
                              .order_by(RoomMember.joined_at, RoomMember.room_id)).all()
    return {"rooms": [{"id": r.room_id, "joinedAt": r.joined_at} for r in rows]}


@bp.get("/api/rooms/<room_id>/members")
@jwt_required()
@endpoint("A room's members and who of them is connected (any web process)", tags=TAGS,
          responses={200: RoomMembersOut}, errors=(404, 422))
def room_members(room_id: str):
    member_room(room_id)
    rows = db.session.execute(
        select(RoomMember.user_id, User.username, RoomMember.joined_at).join(User, User.id == RoomMember.user_id)
        .where(RoomMember.room_id == room_id).order_by(RoomMember.joined_at, RoomMember.user_id)).all()
    online = ext_chat.presence().room_users(room_id)
    return {"roomId": room_id, "members": [{"userId": uid, "username": name, "joinedAt": joined,
                                            "online": uid in online} for uid, name, joined in rows]}


@bp.get("/api/rooms/<room_id>/messages")
@jwt_required()
@endpoint("A room's messages, newest first, page by page", tags=TAGS, query=HistoryQuery,
          responses={200: RoomMessagePage}, errors=(404, 422))
def room_messages(room_id: str, query: HistoryQuery):
    member_room(room_id)
    stmt = select(ChatMessage).where(ChatMessage.room_id == room_id)
    return paginate(stmt, (ChatMessage.id.desc(),), query.page, query.page_size, "messages",
                    wire.chat_frame)


@bp.delete("/api/rooms/<room_id>/members/me")
@jwt_required()
@endpoint("Leave a room: no more of its messages (pending ones are kept)", tags=TAGS, responses={204: None},
          errors=(404, 422))
def leave(room_id: str):
    member_room(room_id)
    leave_room(room_id, current_user.id)
    return "", 204
