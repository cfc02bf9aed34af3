"""Reliable delivery: persist a message with one `pending` delivery per recipient, then push it.

The commit comes first, so every later failure (a lost pub/sub frame, a cut socket, a dead web
process) leaves a pending row that a reconnect replays or the worker redelivers. Acknowledging is
idempotent and never un-acknowledges, so nothing a client sends can lose or duplicate a stored
message: a resend with the same `message_id` is the stored message, a repeated ack changes nothing.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from models import ChatMessage, Delivery, RoomMember, new_id, now_ms
from models.db import db
from realtime.hub import Publisher, Scope
from schemas import wire


def join_room(room_id: str, user_id: str) -> None:
    s = db.session
    if s.get(RoomMember, (room_id, user_id)) is None:
        s.add(RoomMember(room_id=room_id, user_id=user_id))
        try:
            s.commit()
        except IntegrityError:  # joined at the same moment from another socket
            s.rollback()


def leave_room(room_id: str, user_id: str) -> bool:
    s = db.session
    member = s.get(RoomMember, (room_id, user_id))
    if member is None:
        return False
    s.delete(member)
    s.commit()
    return True


def is_member(room_id: str, user_id: str) -> bool:
    return db.session.get(RoomMember, (room_id, user_id)) is not None


def _existing(sender_id: str, client_id: str | None) -> ChatMessage | None:
    if client_id is None:
        return None
    return db.session.execute(select(ChatMessage).where(
        ChatMessage.sender_id == sender_id, ChatMessage.client_message_id == client_id)).scalar_one_or_none()


def store_message(*, sender_id: str, content: str, client_id: str | None, ack_timeout: float,
                  room_id: str | None = None, recipient_id: str | None = None
                  ) -> tuple[ChatMessage, list[str], bool]:
    """Persist a room (room_id) or private (recipient_id) message and its deliveries in one transaction.

    Returns (message, recipient ids, created). `created` is False when the sender already sent
    this `message_id`: the stored message is returned and nothing new is written.
    """
    s = db.session
    if (found := _existing(sender_id, client_id)) is not None:
        return found, [], False
    if room_id is not None:
        recipients = [uid for uid in s.scalars(select(RoomMember.user_id).where(RoomMember.room_id == room_id))
                      if uid != sender_id]
    else:
        assert recipient_id is not None
        recipients = [recipient_id]
    now = now_ms()
    msg = ChatMessage(kind="room" if room_id is not None else "private", room_id=room_id, sender_id=sender_id,
                      recipient_id=recipient_id, client_message_id=client_id, content=content, created_at=now)
    s.add(msg)
    try:
        s.flush()
        if recipients:
            due = now + int(ack_timeout * 1000)
            s.execute(insert(Delivery), [
                {"id": new_id("dlv"), "message_id": msg.id, "user_id": uid, "state": "pending", "attempts": 0,
                 "next_attempt_at": due, "created_at": now, "updated_at": now} for uid in recipients])
        s.commit()
    except IntegrityError:  # the same message_id from another socket of the sender won the race
        s.rollback()
        if (found := _existing(sender_id, client_id)) is not None:
            return found, [], False
        raise
    return msg, recipients, True


def publish_message(publisher: Publisher, msg: ChatMessage, recipients: Iterable[str]) -> None:
    publisher.publish(msg.kind, wire.chat_frame(msg), to=recipients, room=msg.room_id, sender=msg.sender_id,
                      message_id=msg.id)


def pending_page(user_id: str, scope: Scope, after_id: int, limit: int) -> list[ChatMessage]:
    """The next pending messages for this user that a socket of `scope` receives, oldest first."""
    stmt = (select(ChatMessage).join(Delivery, Delivery.message_id == ChatMessage.id)
            .where(Delivery.user_id == user_id, Delivery.state == "pending", ChatMessage.id > after_id))
    if scope.kind == "room":
        stmt = stmt.where(ChatMessage.kind == "room", ChatMessage.room_id == scope.target)
    elif scope.kind == "private":
        stmt = stmt.where(ChatMessage.kind == "private", ChatMessage.sender_id == scope.target)
    return list(db.session.scalars(stmt.order_by(ChatMessage.id).limit(limit)))


def count_replay(user_id: str, message_ids: Sequence[int], ack_timeout: float) -> None:
    """A replay on connect is a send: count it and give the client `ack_timeout` before the worker tries."""
    if not message_ids:
        return
    ts = now_ms()
    db.session.execute(
        update(Delivery).where(Delivery.user_id == user_id, Delivery.message_id.in_(list(message_ids)),
                               Delivery.state == "pending")
        .values(attempts=Delivery.attempts + 1, next_attempt_at=ts + int(ack_timeout * 1000), updated_at=ts)
    )
    db.session.commit()


def retry_dead(delivery: Delivery, ack_timeout: float) -> bool:
    """Put a dead delivery back to pending with a fresh attempt budget; False if it is no longer dead."""
    ts = now_ms()
    revived = db.session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.state == "dead")
        .values(state="pending", attempts=0, next_attempt_at=ts + int(ack_timeout * 1000), last_error=None,
                updated_at=ts)
    ).rowcount == 1
    db.session.commit()
    return revived


class AckBatcher:
    """Acks of every socket of this process, written in one UPDATE every `interval` seconds.

    A busy room makes one ack per recipient per message; one transaction each would make the
    database the bottleneck of delivery. An ack lost with a crashed process only means the message
    is sent again and acked again.
    """

    def __init__(self, app, interval: float = 0.05, max_batch: int = 5000) -> None:
        import threading

        self.app = app
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, user_id: str, message_ids: Sequence[int]) -> None:
        import threading

        with self._lock:
            self._pending.extend((user_id, int(m)) for m in message_ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="chat-acks", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        import logging
        import time

        log = logging.getLogger(__name__)
        while True:
            self._wake.wait()
            time.sleep(self.interval)  # let a burst of acks gather
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                if self._pending:
                    self._wake.set()
            if not batch:
                continue
            try:
                with self.app.app_context():
                    acknowledge_pairs(batch)
            except Exception as exc:  # the deliveries stay pending: redelivered, acked again
                log.warning("could not record %d acks: %s", len(batch), exc)


def acknowledge_pairs(pairs: Sequence[tuple[str, int]]) -> int:
    """Mark these (recipient, message) deliveries delivered in one statement; a late ack also rescues a dead
    one, and an ack never un-acknowledges."""
    from sqlalchemy import tuple_

    ts = now_ms()
    try:
        count = db.session.execute(
            update(Delivery).where(tuple_(Delivery.user_id, Delivery.message_id).in_(list(set(pairs))),
                                   Delivery.state.in_(("pending", "dead")))
            .values(state="delivered", acked_at=ts, updated_at=ts)
        ).rowcount
        db.session.commit()
        return count
    finally:
        db.session.remove()
