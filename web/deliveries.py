"""Deliveries over REST: pending and dead letters, and replaying a dead one.

A delivery is visible to its recipient and to the message's sender; to anyone else it does not
exist (404).
"""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from sqlalchemy import Select, or_, select

from models import ChatMessage, Delivery
from models.db import db
from realtime.delivery import publish_message, retry_dead
from extensions import ext_chat
from extensions.ext_settings import settings
from schemas import wire
from web.errors import ApiError, not_found
from web.openapi import endpoint
from web.pagination import paginate
from schemas.chat import DeadQuery, DeliveryOut, DeliveryPage, DeliveryQuery

bp = Blueprint("deliveries", __name__)
TAGS = ["deliveries"]


def _visible(role: str) -> Select:
    stmt = select(Delivery).join(ChatMessage, ChatMessage.id == Delivery.message_id)
    me = current_user.id
    if role == "recipient":
        return stmt.where(Delivery.user_id == me)
    if role == "sender":
        return stmt.where(ChatMessage.sender_id == me)
    return stmt.where(or_(Delivery.user_id == me, ChatMessage.sender_id == me))


def _page(stmt: Select, query) -> dict:
    return paginate(stmt, (Delivery.message_id, Delivery.id), query.page, query.page_size, "deliveries",
                    wire.delivery)


@bp.get("/api/deliveries")
@jwt_required()
@endpoint("Deliveries of messages the caller sent or receives, oldest first", tags=TAGS, query=DeliveryQuery,
          responses={200: DeliveryPage})
def list_deliveries(query: DeliveryQuery):
    stmt = _visible(query.role)
    if query.state:
        stmt = stmt.where(Delivery.state == query.state)
    return _page(stmt, query)


@bp.get("/api/deliveries/dead")
@jwt_required()
@endpoint("Dead letters: deliveries never acknowledged within the retry limit", tags=TAGS, query=DeadQuery,
          responses={200: DeliveryPage})
def dead_letters(query: DeadQuery):
    return _page(_visible(query.role).where(Delivery.state == "dead"), query)


@bp.post("/api/deliveries/<delivery_id>/retry")
@jwt_required()
@endpoint("Replay a dead letter: back to pending with a fresh attempt budget, pushed now", tags=TAGS,
          responses={200: DeliveryOut}, errors=(404, 409))
def retry(delivery_id: str):
    delivery = db.session.execute(_visible("any").where(Delivery.id == delivery_id)).scalar_one_or_none()
    if delivery is None:
        raise not_found("delivery")
    if delivery.state != "dead":
        raise ApiError(409, f"delivery is {delivery.state}, only a dead one can be retried", code="conflict")
    if not retry_dead(delivery, settings().chat_ack_timeout):
        raise ApiError(409, "delivery changed meanwhile; read it again", code="conflict")
    delivery = db.session.get(Delivery, delivery_id, populate_existing=True)
    try:
        publish_message(ext_chat.publisher(), delivery.message, [delivery.user_id])
    except Exception:  # pending again: a reconnect or the worker sends it
        pass
    return wire.delivery(delivery)
