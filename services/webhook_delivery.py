"""Delivering webhook events: one attempt per task run, retries on timeouts, connection errors, 429
and 5xx with tenacity's exponential backoff (a receiver's `Retry-After` honoured, capped), `dead`
after the attempt limit, a sweep that sends due and lost deliveries, and retry by hand."""
from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from tenacity import RetryCallState, wait_exponential

from extensions.ext_settings import settings
from models import WebhookDelivery, WebhookEndpoint, now_ms
from models.db import db
from realtime.redis_store import kv
from services import queue, webhook_http, webhooks
from services.errors import NotFound

log = logging.getLogger(__name__)
SWEEP_BATCH = 200


def backoff_seconds(attempts: int, retry_after: float | None) -> float:
    """tenacity's exponential wait after `attempts` failed attempts, at least `Retry-After`, capped."""
    cfg = settings()
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempts
    wait = wait_exponential(multiplier=cfg.webhook_backoff_initial, max=cfg.webhook_backoff_max)(state)
    return min(max(wait, retry_after or 0.0), cfg.webhook_backoff_max)


def _claim(s: Session, delivery_id: str) -> WebhookDelivery | None:
    """Lock the row for one attempt; None if it is not pending or another attempt holds it."""
    row = s.execute(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
                    ).scalar_one_or_none()
    now = now_ms()
    if row is None or row.state != "pending" or (row.locked_until or 0) > now:
        return None
    cfg = settings()
    row.locked_until = now + int((cfg.webhook_connect_timeout + 2 * cfg.webhook_read_timeout + 5) * 1000)
    s.commit()
    return row


def _over_rate(user_id: str) -> int | None:
    """Count one attempt in the user's current rate window; past the limit, the epoch millisecond at
    which the next window starts (when the attempt may be made), else None."""
    cfg = settings()
    window = int(time.time() // cfg.webhook_rate_window)
    key = kv.key("webhooks", "rate", user_id, str(window))
    count = kv.r.incr(key)
    if count == 1:
        kv.r.expire(key, 2 * cfg.webhook_rate_window)
    return (window + 1) * cfg.webhook_rate_window * 1000 if count > cfg.webhook_deliveries_per_window else None


def _settle(s: Session, row: WebhookDelivery, answer: webhook_http.Answer | None, error: str | None) -> str:
    cfg, now = settings(), now_ms()
    row.attempts += 1
    row.locked_until = None
    row.last_status = answer.status if answer else None
    row.response_excerpt = answer.excerpt if answer else None
    row.last_error = error or (answer.error if answer else None)
    if answer is not None and answer.status is not None and 200 <= answer.status < 300:
        row.state, row.delivered_at, row.next_attempt_at, row.last_error = "delivered", now, None, None
    elif answer is None or not webhook_http.retryable(answer) or row.attempts >= cfg.webhook_max_attempts:
        row.state, row.next_attempt_at = "dead", None
        if answer is not None and answer.status is not None and not row.last_error:
            row.last_error = f"receiver answered {answer.status}"
    else:
        row.next_attempt_at = now + int(backoff_seconds(row.attempts, answer.retry_after) * 1000)
    s.commit()
    return row.state


def deliver(delivery_id: str) -> str:
    """One attempt of one delivery; returns its state afterwards ('skipped' when not ours to send)."""
    s = db.session()
    try:
        row = _claim(s, delivery_id)
        if row is None:
            return "skipped"
        if (next_window := _over_rate(row.user_id)) is not None:
            row.locked_until, row.next_attempt_at = None, next_window
            s.commit()
            return "rate_limited"
        endpoint = s.get(WebhookEndpoint, row.endpoint_id)
        try:
            answer = webhook_http.post(endpoint.url, webhooks.secret_of(endpoint), row.event_id, row.payload,
                                       settings(), int(time.time()))
        except webhook_http.Refused as exc:
            return _settle(s, row, None, f"refused: {exc}")
        return _settle(s, row, answer, None)
    finally:
        db.session.remove()


def sweep_once(app: Flask) -> list[str]:
    """Enqueue pending deliveries that are due (retries, and those whose task was lost)."""
    with app.app_context():
        if not kv.r.set(kv.key("webhooks", "sweep", "lock"), "1", nx=True,
                        px=max(100, int(settings().webhook_sweep_interval * 1000))):
            return []
        s = db.session()
        try:
            now = now_ms()
            rows = s.execute(select(WebhookDelivery).where(
                WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now))
                .order_by(WebhookDelivery.next_attempt_at).limit(SWEEP_BATCH).with_for_update(skip_locked=True)
            ).scalars().all()
            for row in rows:  # if this task is lost too, a sweep sends it again after WEBHOOK_REQUEUE_AFTER
                row.next_attempt_at = webhooks.requeue_at(now)
            s.commit()
            ids = [row.id for row in rows]
        finally:
            db.session.remove()
        for delivery_id in ids:
            queue.send(queue.DELIVER_WEBHOOK, delivery_id)
        return ids


# ---------------------------------------------------------------- the log, by hand

def deliveries(s: Session, user_id: str, endpoint_id: str, limit: int) -> list[WebhookDelivery]:
    webhooks.owned(s, user_id, endpoint_id)
    return list(s.execute(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                          .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
                          .limit(limit)).scalars())


def retry(s: Session, user_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    """A new round of attempts for a dead (or delivered) delivery, sent now; same `webhook-id`."""
    webhooks.owned(s, user_id, endpoint_id)
    row = s.get(WebhookDelivery, delivery_id)
    if row is None or row.endpoint_id != endpoint_id:
        raise NotFound("webhook delivery", param="delivery_id")
    if row.state != "pending":
        row.state, row.attempts, row.locked_until = "pending", 0, None
    row.next_attempt_at = webhooks.requeue_at(now_ms())
    s.commit()
    queue.send(queue.DELIVER_WEBHOOK, row.id)
    return row


def send_test(s: Session, user_id: str, endpoint_id: str, event_type: Any) -> dict[str, Any]:
    """`client.webhooks.test`: one signed sample event, sent now, not logged."""
    endpoint = webhooks.owned(s, user_id, endpoint_id)
    event_type = webhooks.check_event_types([event_type])[0]
    payload = webhooks.event_payload(event_type, {"id": "sample", "object": "test"})
    try:
        answer = webhook_http.post(endpoint.url, webhooks.secret_of(endpoint), payload["id"], payload, settings(),
                                   int(time.time()))
    except webhook_http.Refused as exc:
        raise webhooks.InvalidRequest(f"refused: {exc}", code="webhook_address_refused", param="url") from None
    if answer.status is None:
        raise webhooks.InvalidRequest(f"the endpoint did not answer: {answer.error}", code="webhook_unreachable")
    return {"object": "webhook_endpoint.test", "event_type": event_type, "status_code": answer.status,
            "success": True, "webhook_endpoint_id": endpoint.id}
