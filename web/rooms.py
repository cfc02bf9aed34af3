"""Rooms over REST: the caller's rooms, a room's members (with presence) and its history.

Anyone may join a room by opening `/ws/room/<id>`; a room's members and messages are visible to
its members only, so to anybody else the room does not exist (404).
"""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from models import ChatMessage
from models.db import db
from schemas import wire
from schemas.chat import HistoryQuery, RoomList, RoomMembersOut, RoomMessagePage
from services import rooms
from web.openapi import endpoint
from web.pagination import paginate

bp = Blueprint("rooms", __name__)
TAGS = ["rooms"]


@bp.get("/api/rooms")
@jwt_required()
@endpoint("Rooms the caller is a member of", tags=TAGS, responses={200: RoomList})
def my_rooms():
    return {"rooms": rooms.my_rooms(db.session(), current_user.id)}


@bp.get("/api/rooms/<room_id>/members")
@jwt_required()
@endpoint("A room's members and who of them is connected (any web process)", tags=TAGS,
          responses={200: RoomMembersOut}, errors=(404, 422))
def room_members(room_id: str):
    return {"roomId": room_id, "members": rooms.members(db.session(), current_user.id, room_id)}


@bp.get("/api/rooms/<room_id>/messages")
@jwt_required()
@endpoint("A room's messages, newest first, page by page", tags=TAGS, query=HistoryQuery,
          responses={200: RoomMessagePage}, errors=(404, 422))
def room_messages(room_id: str, query: HistoryQuery):
    return paginate(rooms.history(current_user.id, room_id), (ChatMessage.id.desc(),), query.page,
                    query.page_size, "messages", wire.chat_frame)


@bp.delete("/api/rooms/<room_id>/members/me")
@jwt_required()
@endpoint("Leave a room: no more of its messages (pending ones are kept)", tags=TAGS, responses={204: None},
          errors=(404, 422))
def leave(room_id: str):
    rooms.leave(current_user.id, room_id)
    return "", 204
