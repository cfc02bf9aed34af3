"""Deliveries of chat messages: what a user may see of them, dead letters replayed by hand, and
redelivery of unacknowledged ones as Celery tasks with tenacity backoff.

Every worker runs a sweep loop (one pass at a time across workers, under a Redis lock). A pass
finds pending deliveries whose `next_attempt_at` has come and whose recipient has a socket that
can receive them, and enqueues one `redeliver` task per recipient. The task counts the attempt,
schedules the next one with tenacity's exponential backoff, and pushes the frame again (the
publish itself retried by tenacity). Past `chat_max_delivery_attempts` the delivery is `dead`:
listed by `GET /api/deliveries/dead`, never dropped. A recipient who is offline spends no
attempts: their deliveries wait for the replay on connect.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from extensions import ext_chat
from extensions.ext_settings import settings as settings_of
from models import ChatMessage, Delivery, now_ms
from models.db import db
from realtime.delivery import publish_message, retry_dead
from realtime.hub import targets_of
from realtime.redis_store import kv
from services import queue
from services.errors import Conflict, NotFound

log = logging.getLogger(__name__)
SWEEP_BATCH = 2000


def next_delay(settings, attempts: int) -> float:
    """Seconds until the next redelivery after `attempts` sends: tenacity's jittered exponential backoff."""
    wait = wait_exponential_jitter(initial=settings.chat_ack_timeout, max=settings.chat_redelivery_backoff_max,
                                   jitter=settings.chat_ack_timeout / 4)
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(1, attempts)
    return wait(state)


def sweep_once(app: Flask) -> dict[str, list[str]]:
    """One pass; returns the delivery ids it enqueued, by recipient."""
    settings = settings_of(app)
    with app.app_context():
        if not kv.r.set(kv.key("chat", "redelivery", "lock"), "1", nx=True,
                        px=max(100, int(settings.chat_redelivery_interval * 1000))):
            return {}
        online = ext_chat.presence(app).online_targets()
        if not online:
            return {}
        try:
            rows = db.session.execute(
                select(Delivery.id, Delivery.user_id, ChatMessage.kind, ChatMessage.room_id, ChatMessage.sender_id)
                .join(ChatMessage, ChatMessage.id == Delivery.message_id)
                .where(Delivery.state == "pending", Delivery.next_attempt_at <= now_ms())
                .order_by(Delivery.message_id).limit(SWEEP_BATCH)
            ).all()
        finally:
            db.session.remove()
        due: dict[str, list[str]] = defaultdict(list)
        for delivery_id, user_id, kind, room_id, sender_id in rows:
            if targets_of(kind, user_id, room_id, sender_id) & online:
                due[user_id].append(delivery_id)
        for user_id, ids in due.items():
            queue.send(queue.REDELIVER, user_id, ids)
        return dict(due)


def redeliver(app: Flask, user_id: str, delivery_ids: list[str]) -> dict[str, int]:
    """Send these deliveries of one recipient again, oldest first; give up on those past the limit."""
    settings = settings_of(app)
    now = now_ms()
    resend: list[ChatMessage] = []
    dead = 0
    with db.transaction() as s:
        rows = s.scalars(
            select(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.user_id == user_id,
                                   Delivery.state == "pending", Delivery.next_attempt_at <= now)
            .order_by(Delivery.message_id).with_for_update(skip_locked=True, of=Delivery)
        ).all()
        for d in rows:
            if d.attempts >= settings.chat_max_delivery_attempts:
                d.state = "dead"
                d.last_error = f"not acknowledged after {d.attempts} sends"
                dead += 1
                continue
            d.attempts += 1
            d.next_attempt_at = now + int(next_delay(settings, d.attempts) * 1000)
            d.last_error = "not acknowledged in time" if d.attempts > 1 else d.last_error
            resend.append(d.message)
    publisher = ext_chat.publisher(app)
    publish = Retrying(stop=stop_after_attempt(3), wait=wait_exponential_jitter(initial=0.1, max=2),
                       retry=retry_if_exception_type(RedisError), reraise=True)
    for msg in resend:
        try:
            publish(publish_message, publisher, msg, [user_id])
        except RedisError as exc:  # still pending with its next attempt scheduled: the next sweep tries again
            log.warning("redelivery of message %s to %s failed: %s", msg.id, user_id, exc)
            _record_error(user_id, msg.id, str(exc))
    if dead:
        log.warning("%d deliveries to %s went to the dead letters", dead, user_id)
    return {"resent": len(resend), "dead": dead}


def _record_error(user_id: str, message_id: int, error: str) -> None:
    with db.transaction() as s:
        s.execute(update(Delivery).where(Delivery.user_id == user_id, Delivery.message_id == message_id)
                  .values(last_error=error[:500]))


# ---------------------------------------------------------------- as their users see them

def visible(user_id: str, role: str) -> Select:
    """Deliveries the user receives (`recipient`), sent (`sender`), or either (`any`)."""
    stmt = select(Delivery).join(ChatMessage, ChatMessage.id == Delivery.message_id)
    if role == "recipient":
        return stmt.where(Delivery.user_id == user_id)
    if role == "sender":
        return stmt.where(ChatMessage.sender_id == user_id)
    return stmt.where(or_(Delivery.user_id == user_id, ChatMessage.sender_id == user_id))


def retry_dead_letter(s: Session, user_id: str, delivery_id: str) -> Delivery:
    """Back to pending with a fresh attempt budget, and pushed now."""
    delivery = s.execute(visible(user_id, "any").where(Delivery.id == delivery_id)).scalar_one_or_none()
    if delivery is None:
        raise NotFound("delivery")
    if delivery.state != "dead":
        raise Conflict(f"delivery is {delivery.state}, only a dead one can be retried")
    if not retry_dead(delivery, settings_of().chat_ack_timeout):
        raise Conflict("delivery changed meanwhile; read it again")
    delivery = s.get(Delivery, delivery_id, populate_existing=True)
    try:
        publish_message(ext_chat.publisher(), delivery.message, [delivery.user_id])
    except Exception:  # pending again: a reconnect or the worker sends it
        pass
    return delivery
