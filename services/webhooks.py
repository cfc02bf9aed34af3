"""Webhook endpoints (the `/v1/webhook_endpoints` use cases) and the events jobs emit when they end.

An event becomes one `WebhookDelivery` row per subscribed endpoint, written in the job's final
transaction (an outbox): the delivery survives a crash between the commit and the call.
"""
from __future__ import annotations

import base64
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from extensions.ext_settings import settings
from models import Job, StoredResponse, WebhookDelivery, WebhookEndpoint, new_id, now_ms
from models.db import db, self_committing
from services import queue
from services.errors import Conflict, InvalidRequest, NotFound
from services.keystore import decrypt, encrypt, key_ring

log = logging.getLogger(__name__)

V1_EVENTS = ("response.completed", "response.failed", "response.cancelled", "response.incomplete",
             "batch.completed", "batch.failed", "batch.cancelled", "batch.expired")
API_EVENTS = ("job.succeeded", "job.failed", "job.cancelled")
EVENT_TYPES = V1_EVENTS + API_EVENTS


def requeue_at(now: int) -> int:
    """When a delivery queued at `now` (ms) is sent again if its task was lost."""
    return now + int(settings().webhook_requeue_after * 1000)


# ---------------------------------------------------------------- endpoints

def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_of(endpoint: WebhookEndpoint) -> str:
    return decrypt(key_ring(settings()), endpoint.secret)


def _set_secret(endpoint: WebhookEndpoint) -> str:
    secret = new_secret()
    endpoint.secret = encrypt(key_ring(settings()), secret)
    endpoint.secret_hint = f"whsec_...{secret[-4:]}"
    return secret


def check_url(url: Any) -> str:
    """Only the shape here; the address it resolves to is checked at each delivery."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise InvalidRequest("url must be a URL of at most 2048 characters", param="url")
    parts = urlsplit(url)
    https_only = settings().webhook_require_https
    if https_only is None:
        https_only = settings().environment == "production"
    allowed = ("https",) if https_only else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        raise InvalidRequest(f"url must be an absolute {' or '.join(allowed)} URL", param="url")
    if parts.username or parts.password:
        raise InvalidRequest("url must not carry credentials", param="url")
    return url


def check_event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidRequest("event_types must be a non-empty list of event type names", param="event_types")
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise InvalidRequest(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}", param="event_types")
    return sorted(set(value))


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidRequest("name must be 1 to 200 characters", param="name")
    return value.strip()


def create(s: Session, user_id: str, body: dict) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown this once)."""
    endpoint = WebhookEndpoint(user_id=user_id, name=check_name(body.get("name")), url=check_url(body.get("url")),
                               event_types=check_event_types(body.get("event_types")))
    count = len(s.execute(select(WebhookEndpoint.id).where(WebhookEndpoint.user_id == user_id)).all())
    if count >= settings().webhook_max_endpoints:
        raise Conflict(f"at most {settings().webhook_max_endpoints} webhook endpoints per user",
                       code="too_many_webhook_endpoints")
    secret = _set_secret(endpoint)
    s.add(endpoint)
    s.commit()
    return endpoint, secret


def owned(s: Session, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = s.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.user_id != user_id:
        raise NotFound("webhook endpoint", param="webhook_endpoint_id")
    return endpoint


def update(s: Session, user_id: str, endpoint_id: str, body: dict) -> WebhookEndpoint:
    endpoint = owned(s, user_id, endpoint_id)
    changes = {}
    if "name" in body:
        changes["name"] = check_name(body["name"])
    if "url" in body:
        changes["url"] = check_url(body["url"])
    if "event_types" in body:
        changes["event_types"] = check_event_types(body["event_types"])
    if any(getattr(endpoint, k) != v for k, v in changes.items()):
        for key, value in changes.items():
            setattr(endpoint, key, value)
        endpoint.updated_at = now_ms()
    s.commit()
    return endpoint


def list_endpoints(s: Session, user_id: str, limit: int, after: str | None) -> tuple[list[WebhookEndpoint], bool]:
    """Newest first, `after` being the last id of the previous page."""
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
    if after:
        cursor = owned(s, user_id, after)
        stmt = stmt.where(or_(WebhookEndpoint.created_at < cursor.created_at,
                              and_(WebhookEndpoint.created_at == cursor.created_at, WebhookEndpoint.id < cursor.id)))
    rows = s.execute(stmt.order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
                     .limit(limit + 1)).scalars().all()
    return list(rows[:limit]), len(rows) > limit


def delete(s: Session, user_id: str, endpoint_id: str) -> None:
    s.delete(owned(s, user_id, endpoint_id))
    s.commit()


def rotate_secret(s: Session, user_id: str, endpoint_id: str, keep_old: bool) -> tuple[WebhookEndpoint, str]:
    if keep_old:
        raise InvalidRequest("keeping the old secret active is not supported: rotate when receivers are ready",
                             code="unsupported_parameter", param="keep_old_secret_active_for_24_hours")
    endpoint = owned(s, user_id, endpoint_id)
    secret = _set_secret(endpoint)
    endpoint.updated_at = now_ms()
    s.commit()
    return endpoint, secret


# ---------------------------------------------------------------- events

def event_payload(event_type: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """OpenAI's webhook event shape: the object's id, never its content (fetch it with your key)."""
    return {"id": event_id or new_id("evt"), "object": "event", "created_at": now_ms() // 1000,
            "type": event_type, "data": data}


def _job_event(s: Session, job: Job, status: str, result: dict | None) -> tuple[str, dict] | None:
    if job.kind == "chat":
        if job.parent_id is not None:
            return None  # a batch's request: the batch reports
        resp_id = s.execute(select(StoredResponse.id).where(StoredResponse.job_id == job.id)).scalar()
        if resp_id is None:
            return f"job.{status}", {"id": job.id, "object": "job", "kind": job.kind, "status": status}
        if status == "succeeded":
            length = (result or {}).get("finish_reason") in ("length", "max_tokens")
            return ("response.incomplete" if length else "response.completed"), {"id": resp_id}
        return f"response.{status}", {"id": resp_id}
    batchy = job.kind == "chat_batch" or job.kind.startswith("conversations.batch")
    if job.kind == "chat_batch" and "v1" in (job.payload or {}):
        name = {"succeeded": "completed"}.get(status, status)
        return f"batch.{name}", {"id": job.id}
    if batchy and status == "succeeded":
        return "batch.completed", {"id": job.id, "object": "job", "kind": job.kind, "status": status}
    return f"job.{status}", {"id": job.id, "object": "job", "kind": job.kind, "status": status}


def record_job_end(s: Session, job: Job, status: str, result: dict | None) -> int:
    """In the job's final transaction: one pending delivery per endpoint subscribed to its event."""
    endpoints = s.execute(select(WebhookEndpoint).where(WebhookEndpoint.user_id == job.user_id)).scalars().all()
    if not endpoints:
        return 0  # the common case: one indexed query, nothing more
    event = _job_event(s, job, str(status), result)
    if event is None:
        return 0
    return record_event(s, endpoints, job.user_id, event[0], event[1], source_id=job.id)


def record_event(s: Session, endpoints: list[WebhookEndpoint], user_id: str, event_type: str, data: dict,
                 source_id: str | None) -> int:
    targets = [e for e in endpoints if event_type in (e.event_types or [])]
    if not targets:
        return 0
    payload = event_payload(event_type, data)
    due = requeue_at(now_ms())
    s.add_all(WebhookDelivery(endpoint_id=e.id, user_id=user_id, event_id=payload["id"], event_type=event_type,
                              source_id=source_id, payload=payload, next_attempt_at=due)
              for e in targets)
    return len(targets)


def dispatch(source_id: str) -> None:
    """After the commit: send the job's pending deliveries now (the sweep sends them if this fails)."""
    try:
        # Its own session (the caller's objects stay as they are), and one statement with no
        # transaction around it: every job's end asks this, and most find nothing.
        with Session(db.engine) as s, self_committing(s):
            ids = s.execute(select(WebhookDelivery.id).where(WebhookDelivery.source_id == source_id,
                                                             WebhookDelivery.state == "pending")).scalars().all()
        for delivery_id in ids:
            queue.send(queue.DELIVER_WEBHOOK, delivery_id, retry=False)
    except Exception as exc:
        log.warning("webhooks of %s left for the sweep: %s", source_id, exc)
