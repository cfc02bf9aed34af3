"""Deliveries over REST: pending and dead letters, and replaying a dead one.

A delivery is visible to its recipient and to the message's sender; to anyone else it does not
exist (404).
"""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from sqlalchemy import Select

from models import Delivery
from models.db import db
from schemas import wire
from schemas.chat import DeadQuery, DeliveryOut, DeliveryPage, DeliveryQuery
from services.deliveries import retry_dead_letter, visible
from web.openapi import endpoint
from web.pagination import paginate

bp = Blueprint("deliveries", __name__)
TAGS = ["deliveries"]


def _page(stmt: Select, query) -> dict:
    return paginate(stmt, (Delivery.message_id, Delivery.id), query.page, query.page_size, "deliveries",
                    wire.delivery)


@bp.get("/api/deliveries")
@jwt_required()
@endpoint("Deliveries of messages the caller sent or receives, oldest first", tags=TAGS, query=DeliveryQuery,
          responses={200: DeliveryPage})
def list_deliveries(query: DeliveryQuery):
    stmt = visible(current_user.id, query.role)
    if query.state:
        stmt = stmt.where(Delivery.state == query.state)
    return _page(stmt, query)


@bp.get("/api/deliveries/dead")
@jwt_required()
@endpoint("Dead letters: deliveries never acknowledged within the retry limit", tags=TAGS, query=DeadQuery,
          responses={200: DeliveryPage})
def dead_letters(query: DeadQuery):
    return _page(visible(current_user.id, query.role).where(Delivery.state == "dead"), query)


@bp.post("/api/deliveries/<delivery_id>/retry")
@jwt_required()
@endpoint("Replay a dead letter: back to pending with a fresh attempt budget, pushed now", tags=TAGS,
          responses={200: DeliveryOut}, errors=(404, 409))
def retry(delivery_id: str):
    return wire.delivery(retry_dead_letter(db.session(), current_user.id, delivery_id))
