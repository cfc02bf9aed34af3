"""`/api/webhooks/<id>/deliveries`: an endpoint's delivery log (attempts, last status and error, next
try) and retry by hand. Endpoints themselves are managed at `/v1/webhook_endpoints`."""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from models.db import db
from schemas.webhook_wire import delivery
from services import webhook_delivery
from web.openapi import endpoint
from web.pagination import limit_arg

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")
TAGS = ["webhooks"]


@bp.get("/<endpoint_id>/deliveries")
@jwt_required()
@endpoint("An endpoint's deliveries, newest first: state, attempts, last status and error, next try",
          tags=TAGS, responses={200: dict}, errors=(400, 404))
def list_deliveries(endpoint_id: str):
    rows = webhook_delivery.deliveries(db.session(), current_user.id, endpoint_id, limit_arg(50, 200))
    return {"deliveries": [delivery(r) for r in rows]}


@bp.post("/<endpoint_id>/deliveries/<delivery_id>/retry")
@jwt_required()
@endpoint("Send a delivery again now (a dead one gets a new round of attempts; same webhook-id)", tags=TAGS,
          responses={202: dict}, errors=(404,))
def retry_delivery(endpoint_id: str, delivery_id: str):
    return delivery(webhook_delivery.retry(db.session(), current_user.id, endpoint_id, delivery_id)), 202
