"""Chat WebSockets: `/ws/room/<room_id>`, `/ws/private/<to_user>` and the personal `/ws`.

The token, not the URL, says who the user is; the Origin allowlist, the room id rules and the
peer's existence are checked before the handshake, so a refused client gets our HTTP envelope.
On connect the socket replays the user's pending deliveries (oldest first), sends `ready`, then
follows live frames. See the README section "Rooms, private messages and delivery" for the
frame protocol and close codes.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from typing import Any

from flask import Blueprint, Flask, current_app, g, request
from pydantic import TypeAdapter, ValidationError

from extensions import ext_chat
from extensions.ext_settings import settings
from metrics import metrics
from models import Job, User, now_ms
from models.db import db
from realtime.chat_rate import count_message
from realtime.delivery import (
    count_replay,
    is_member,
    join_room,
    leave_room,
    pending_page,
    publish_message,
    store_message,
)
from realtime.hub import Connection, Scope
from realtime.redis_store import store_of
from realtime.relay import Cursor
from realtime.socket_auth import authenticate_stream_user, check_origin
from realtime.sockets import sock
from schemas import wire
from schemas.chat import (
    AckFrame,
    ChatFrame,
    ClientFrame,
    FollowJobFrame,
    LeaveFrame,
    PingFrame,
)
from services.errors import InvalidInput, NotFound, validation_details
from services.job_stream import follow_job, parse_cursor
from services.rooms import valid_room_id

log = logging.getLogger(__name__)
bp = Blueprint("chat_sockets", __name__)
CHAT_ENDPOINTS = {"chat_sockets.room_socket", "chat_sockets.private_socket", "chat_sockets.personal_socket"}
REPLAY_PAGE = 500
SLOW_CONSUMER_GRACE = 1.0  # seconds a slow consumer gets to take its close frame before the socket is cut

# Close codes (README): 1000 normal (left the room), 1008 policy (too many malformed frames, ping
# timeout), 1009 frame too big (simple-websocket), 4008 slow consumer, 4029 message-rate abuse.
CLOSE_POLICY = 1008
CLOSE_SLOW_CONSUMER = 4008
CLOSE_RATE_ABUSE = 4029

_frames = TypeAdapter(ClientFrame)


@bp.before_request
def _guard_chat_sockets() -> None:
    if request.endpoint not in CHAT_ENDPOINTS:
        return
    check_origin()
    user = authenticate_stream_user()
    args = request.view_args or {}
    if request.endpoint == "chat_sockets.room_socket":
        join_room(valid_room_id(args.get("room_id", "")), user.id)
    elif request.endpoint == "chat_sockets.private_socket":
        peer = args.get("to_user", "")
        if peer == user.id:
            raise InvalidInput("cannot open a private socket to yourself")
        if db.session.get(User, peer) is None:
            raise NotFound("user")
    g.chat_user_id = user.id
    if not settings().ws_compression:
        # simple-websocket always accepts permessage-deflate when offered; not offering it saves ~90 KiB a socket.
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    db.session.remove()  # hold no database connection for the life of the socket


@sock.route("/ws/room/<room_id>", bp=bp)
def room_socket(ws, room_id: str) -> None:
    ChatSocket(ws, Scope("room", room_id)).serve()


@sock.route("/ws/private/<to_user>", bp=bp)
def private_socket(ws, to_user: str) -> None:
    ChatSocket(ws, Scope("private", to_user)).serve()


@sock.route("/ws", bp=bp)
def personal_socket(ws) -> None:
    ChatSocket(ws, Scope("personal")).serve()


class CloseSocket(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def dumps(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"))


class ChatSocket:
    """One client's socket: replay, then read frames and write queued frames until it closes."""

    def __init__(self, ws: Any, scope: Scope) -> None:
        self.app: Flask = current_app._get_current_object()
        self.settings = settings(self.app)
        self.ws = ws
        self.scope = scope
        self.user_id: str = g.chat_user_id
        self.hub = ext_chat.hub(self.app)
        self.publisher = ext_chat.publisher(self.app)
        self.conn = Connection(ws, self.user_id, scope, self.settings.chat_send_buffer)
        self.bad_frames = 0
        self.closed = False
        self.conn.on_overflow = self._overflowed

    # --- life cycle ------------------------------------------------------------------------

    def serve(self) -> None:
        with metrics().open_websockets.track_inprogress():  # counted with the job sockets
            self._serve()

    def _serve(self) -> None:
        if self.settings.ws_socket_send_buffer:
            # A bounded kernel buffer: a stalled peer fills the outbox (and is cut) sooner, and costs less memory.
            self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.ws_socket_send_buffer)
        self.hub.register(self.conn)
        in_room = self.scope.kind == "room"
        try:
            if in_room and self.hub.presence.join_room(self.scope.target, self.user_id, self.conn.id):
                self._presence("user_joined")
            replayed = self._replay()
            self.conn.release_held(replayed)
            self.ws.send(dumps({"type": "ready", "user_id": self.user_id, "replayed": len(replayed)}))
            self._loop()
        except CloseSocket as close:
            self._close(close.code, close.reason)
        finally:
            self.closed = True
            self.hub.unregister(self.conn)
            if in_room:
                try:
                    if self.hub.presence.leave_room(self.scope.target, self.user_id, self.conn.id):
                        self._presence("user_left")
                except Exception as exc:  # Redis down: the entry expires on its own
                    log.warning("could not record leaving room %s: %s", self.scope.target, exc)
            db.session.remove()

    def _presence(self, event: str) -> None:
        frame = {"type": event, "user_id": self.user_id, "room_id": self.scope.target, "timestamp": now_ms()}
        self.publisher.publish("presence", frame, room=self.scope.target)

    def _replay(self) -> set[int]:
        """Send every pending delivery this socket receives, oldest first; returns their message ids."""
        sent: set[int] = set()
        after = 0
        try:
            while True:
                page = pending_page(self.user_id, self.scope, after, REPLAY_PAGE)
                if not page:
                    return sent
                count_replay(self.user_id, [m.id for m in page], self.settings.chat_ack_timeout)
                for msg in page:
                    self.ws.send(dumps(wire.chat_frame(msg)))
                    sent.add(msg.id)
                after = page[-1].id
        finally:
            db.session.remove()

    def _loop(self) -> None:
        ws, conn = self.ws, self.conn
        while ws.connected:
            # simple-websocket sets this event for every incoming frame and on close; the hub sets it
            # for outgoing frames. Cleared before both queues are read, so no wake-up is lost.
            ws.event.wait(timeout=5)
            ws.event.clear()
            while True:
                if conn.overflowed:
                    self._cut_slow_consumer()
                    return
                for frame in conn.take():  # between incoming frames too: a busy reader is no slow consumer
                    ws.send(frame)
                if not ws.input_buffer:
                    break
                self._handle(ws.input_buffer.pop(0))

    def _close(self, code: int, reason: str) -> None:
        try:
            self.ws.close(reason=code, message=reason)
        except Exception:  # already closed by the peer
            pass

    def _cut_slow_consumer(self) -> None:
        """The writer saw the overflow: say why, with a close frame."""
        self._close(CLOSE_SLOW_CONSUMER, "slow consumer")

    def _overflowed(self) -> None:
        """The hub saw the overflow. The writer may be stuck in a send to a peer that reads nothing, so
        the socket is cut after a grace period unless the writer closed it meanwhile."""
        log.warning("closing slow consumer %s of %s", self.conn.id, self.user_id)
        self.ws.event.set()
        timer = threading.Timer(SLOW_CONSUMER_GRACE, self._force_cut)
        timer.daemon = True
        timer.start()

    def _force_cut(self) -> None:
        if not self.closed:
            _shutdown(self.ws)

    # --- incoming frames -------------------------------------------------------------------

    def _error(self, code: str, message: str, **extra: Any) -> None:
        self.ws.send(dumps({"type": "error", "code": code, "message": message, **extra}))

    def _bad_frame(self, message: str, details: Any = None) -> None:
        self.bad_frames += 1
        if self.bad_frames >= self.settings.chat_max_bad_frames:
            raise CloseSocket(CLOSE_POLICY, "too many malformed frames")
        self._error("bad_frame", message, **({"details": details} if details is not None else {}))

    def _handle(self, raw: str | bytes) -> None:
        if isinstance(raw, (bytes, bytearray)):
            return self._bad_frame("frames must be JSON text")
        try:
            data = json.loads(raw)
        except ValueError:
            return self._bad_frame("frame is not valid JSON")
        if not isinstance(data, dict):
            return self._bad_frame("frame must be a JSON object")
        if "type" not in data and self.scope.kind != "personal":
            data["type"] = "chat"  # the seed's clients send bare `{content, message_id}`
        try:
            frame = _frames.validate_python(data)
        except ValidationError as exc:
            return self._bad_frame("frame failed validation", validation_details(exc))
        self.bad_frames = 0
        try:
            self._dispatch(frame)
        except CloseSocket:
            raise
        except Exception:  # database or Redis trouble: nothing was acknowledged, the client may resend
            log.exception("chat frame failed for %s", self.user_id)
            db.session.rollback()
            self._error("unavailable", "the message could not be processed; send it again",
                        message_id=getattr(frame, "message_id", None))
        finally:
            db.session.remove()

    def _dispatch(self, frame: Any) -> None:
        if isinstance(frame, AckFrame):
            ext_chat.ack_batcher(self.app).add(self.user_id, frame.ids)
        elif isinstance(frame, PingFrame):
            self.ws.send(dumps({"type": "pong", "timestamp": now_ms()}))
        elif isinstance(frame, FollowJobFrame):
            if self.scope.kind != "personal":
                return self._error("bad_frame", "`follow_job` is only understood on the personal socket")
            job = db.session.get(Job, frame.job_id)
            if job is None or job.user_id != self.user_id:
                return self._error("not_found", "job not found", job_id=frame.job_id)
            threading.Thread(target=self._relay_job, args=(frame.job_id, parse_cursor(frame.after, frame.epoch)),
                             daemon=True).start()
        elif isinstance(frame, LeaveFrame):
            if self.scope.kind != "room":
                return self._error("bad_frame", "`leave` is only understood on a room socket")
            leave_room(self.scope.target, self.user_id)
            raise CloseSocket(1000, "left the room")
        elif isinstance(frame, ChatFrame) and self.scope.kind != "private":
            room_id = self.scope.target if self.scope.kind == "room" else frame.room_id
            if room_id is None:
                return self._error("bad_frame", "`room_id` is required on this socket", message_id=frame.message_id)
            if self.scope.kind != "room" and not is_member(room_id, self.user_id):
                return self._error("not_found", "room not found", message_id=frame.message_id)
            self._send_message(frame.content, frame.message_id, room_id=room_id)
        else:  # a private message: ChatFrame on a private socket, or PrivateFrame
            to = self.scope.target if self.scope.kind == "private" else getattr(frame, "to", None)
            if self.scope.kind == "private" and getattr(frame, "to", None) not in (None, to):
                return self._error("bad_frame", "this socket only sends to " + to, message_id=frame.message_id)
            if to is None:
                return self._error("bad_frame", "`to` is required on this socket", message_id=frame.message_id)
            if to == self.user_id or (self.scope.kind != "private" and db.session.get(User, to) is None):
                return self._error("not_found", "user not found", message_id=frame.message_id)
            self._send_message(frame.content, frame.message_id, recipient_id=to)

    def _relay_job(self, job_id: str, cursor: Cursor) -> None:
        """Job events into this socket's outbox (the same replay-then-live stream as `/ws/jobs/<id>`)."""
        try:
            for event in follow_job(self.app, job_id, cursor, idle_timeout=5.0):
                if self.closed:
                    return
                if event is not None:
                    self.conn.push(dumps(event.to_wire(job_id)))
        except Exception as exc:  # Redis trouble: the client follows again with its last seq
            log.warning("relay of job %s to %s stopped: %s", job_id, self.conn.id, exc)

    def _send_message(self, content: str, client_id: str | None, *, room_id: str | None = None,
                      recipient_id: str | None = None) -> None:
        s = self.settings
        if not content:
            return self._error("bad_frame", "`content` must not be empty", message_id=client_id)
        if len(content) > s.chat_max_content_chars:
            return self._error("message_too_long", f"`content` is longer than {s.chat_max_content_chars} "
                               "characters", message_id=client_id)
        count = count_message(store_of(self.app), self.user_id)
        if count > s.chat_messages_per_second * s.chat_abuse_factor:
            raise CloseSocket(CLOSE_RATE_ABUSE, "message rate abuse")
        if count > s.chat_messages_per_second:
            return self._error("rate_limited", f"more than {s.chat_messages_per_second} messages per second; "
                               "not stored, send it again later", message_id=client_id)
        msg, recipients, created = store_message(sender_id=self.user_id, content=content, client_id=client_id,
                                                 ack_timeout=s.chat_ack_timeout, room_id=room_id,
                                                 recipient_id=recipient_id)
        self.ws.send(dumps({"type": "message_sent", "id": msg.id, "message_id": msg.client_message_id,
                            "to": msg.recipient_id, "room_id": msg.room_id, "timestamp": msg.created_at,
                            "duplicate": not created}))
        if created and recipients:
            try:
                publish_message(self.publisher, msg, recipients)
            except Exception as exc:  # stored and pending: the worker redelivers it
                log.warning("could not publish message %s: %s", msg.id, exc)


def _shutdown(ws: Any) -> None:
    try:
        ws.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


