"""`/v1/webhook_endpoints`: the endpoints the official SDK's `client.webhooks` manages (create, retrieve,
update, list, delete, rotate_secret, test). The signing secret is in the create and rotate answers only."""
from __future__ import annotations

from models.db import db
from schemas.webhook_wire import endpoint_object
from services import webhook_delivery, webhooks
from web.openapi import endpoint
from web.v1.common import blueprint, json_body, user_id
from web.v1.files import cursor_page, page_args

bp = blueprint("v1_webhooks")
TAGS = ["webhooks"]


@bp.post("/webhook_endpoints")
@endpoint("Register a webhook endpoint (name, url, event_types); the signing secret is shown this once",
          tags=TAGS, raw_body={"application/json": dict}, responses={200: dict}, errors=(400, 409))
def create_endpoint():
    row, secret = webhooks.create(db.session(), user_id(), json_body())
    return endpoint_object(row, secret)


@bp.get("/webhook_endpoints")
@endpoint("The caller's webhook endpoints, newest first (cursor page)", tags=TAGS, responses={200: dict},
          errors=(400, 404))
def list_endpoints():
    limit, after = page_args()
    rows, more = webhooks.list_endpoints(db.session(), user_id(), limit, after)
    return cursor_page([endpoint_object(r) for r in rows], more)


@bp.get("/webhook_endpoints/<endpoint_id>")
@endpoint("One webhook endpoint", tags=TAGS, responses={200: dict}, errors=(404,))
def get_endpoint(endpoint_id: str):
    return endpoint_object(webhooks.owned(db.session(), user_id(), endpoint_id))


@bp.post("/webhook_endpoints/<endpoint_id>")
@endpoint("Change a webhook endpoint's name, url or event_types", tags=TAGS,
          raw_body={"application/json": dict}, responses={200: dict}, errors=(400, 404))
def update_endpoint(endpoint_id: str):
    return endpoint_object(webhooks.update(db.session(), user_id(), endpoint_id, json_body()))


@bp.delete("/webhook_endpoints/<endpoint_id>")
@endpoint("Delete a webhook endpoint (and its delivery log)", tags=TAGS, responses={200: dict}, errors=(404,))
def delete_endpoint(endpoint_id: str):
    webhooks.delete(db.session(), user_id(), endpoint_id)
    return {"id": endpoint_id, "object": "webhook_endpoint.deleted", "deleted": True}


@bp.post("/webhook_endpoints/<endpoint_id>/rotate_secret")
@endpoint("A new signing secret (shown this once); the old one stops at once", tags=TAGS,
          raw_body={"application/json": dict}, responses={200: dict}, errors=(400, 404))
def rotate_secret(endpoint_id: str):
    keep_old = bool(json_body().get("keep_old_secret_active_for_24_hours", False))
    row, secret = webhooks.rotate_secret(db.session(), user_id(), endpoint_id, keep_old)
    return endpoint_object(row, secret)


@bp.post("/webhook_endpoints/<endpoint_id>/test")
@endpoint("Send one signed sample event now and report the receiver's status code", tags=TAGS,
          raw_body={"application/json": dict}, responses={200: dict}, errors=(400, 404))
def test_endpoint(endpoint_id: str):
    return webhook_delivery.send_test(db.session(), user_id(), endpoint_id, json_body().get("event_type"))


@bp.get("/webhook_event_types")
@endpoint("The event types an endpoint may subscribe to", tags=TAGS, responses={200: dict})
def event_types():
    return {"object": "list", "data": [{"object": "webhook_event_type", "name": name}
                                       for name in webhooks.EVENT_TYPES]}
