"""The per-process fan-out of chat frames: one Redis pub/sub subscriber feeding every local socket.

Any web process (or the worker) publishes a frame once on `chat:deliver`, naming its recipients;
each web process's hub hands it to the matching local connections. Pub/sub is at-most-once,
which is fine here: the database holds every delivery, and a frame that never arrived is replayed
on reconnect or redelivered by the worker.

A connection never blocks the hub: frames go into its bounded outbox and the socket's own
greenlet writes them. An outbox that overflows marks the connection as a slow consumer, which
is then closed; its deliveries stay pending.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from realtime.presence import Presence, personal_target, private_target, room_target

log = logging.getLogger(__name__)
CHANNEL = "chat:deliver"


@dataclass(frozen=True)
class Scope:
    """What a socket is for: `personal` (everything of its user), one `room`, or one `private` peer."""

    kind: str
    target: str = ""  # the room id or the peer's user id

    def presence_target(self, user_id: str) -> str:
        if self.kind == "room":
            return room_target(user_id, self.target)
        if self.kind == "private":
            return private_target(user_id, self.target)
        return personal_target(user_id)


def targets_of(kind: str, user_id: str, room_id: str | None, sender_id: str | None) -> set[str]:
    """Presence targets that can receive a message of `kind` for `user_id`."""
    if kind == "room":
        return {personal_target(user_id), room_target(user_id, room_id or "")}
    return {personal_target(user_id), private_target(user_id, sender_id or "")}


class Connection:
    """One local socket: its user, its scope and the bounded queue of frames waiting to be written.

    The socket's handler greenlet is also its writer, woken through simple-websocket's own event
    (set for incoming frames too): one greenlet per socket rather than two keeps idle sockets cheap.
    """

    def __init__(self, ws: Any, user_id: str, scope: Scope, limit: int) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.ws = ws
        self.user_id = user_id
        self.scope = scope
        self.limit = limit
        self.outbox: deque[str] = deque()
        self.overflowed = False
        # While the handler replays pending deliveries, live frames wait here (with their message ids).
        self.held: list[tuple[int | None, str]] | None = []
        # Called once, from the hub, when the outbox overflows (the writer may be stuck in a send).
        self.on_overflow: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        self.ws.event.set()

    def push(self, frame: str, message_id: int | None = None) -> None:
        with self._lock:
            if self.overflowed:
                return
            if self.held is not None:
                self.held.append((message_id, frame))
                self.overflowed = len(self.held) > self.limit
            elif len(self.outbox) >= self.limit:
                self.overflowed = True
            else:
                self.outbox.append(frame)
            overflowed = self.overflowed
        self.wake()
        if overflowed and self.on_overflow is not None:
            self.on_overflow()

    def release_held(self, already_sent: set[int]) -> None:
        """End of the replay: queue the held live frames, except the messages the replay just sent."""
        with self._lock:
            held, self.held = self.held or [], None
            for message_id, frame in held:
                if message_id is None or message_id not in already_sent:
                    self.outbox.append(frame)
        self.wake()

    def take(self) -> list[str]:
        with self._lock:
            frames = list(self.outbox)
            self.outbox.clear()
        return frames


class ChatHub:
    def __init__(self, presence: Presence, refresh_interval: float) -> None:
        self.presence = presence
        self.store = presence.store
        self.refresh_interval = refresh_interval
        self._by_user: dict[str, set[Connection]] = {}
        self._by_room: dict[str, set[Connection]] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Event()
        presence.on_expired = self._announce_expired

    @property
    def channel(self) -> str:
        return self.store.key(CHANNEL)

    # --- local connections -------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self._ensure_started()
        with self._lock:
            self._by_user.setdefault(conn.user_id, set()).add(conn)
            if conn.scope.kind == "room":
                self._by_room.setdefault(conn.scope.target, set()).add(conn)
        self.presence.go_online(conn.scope.presence_target(conn.user_id), conn.id)

    def unregister(self, conn: Connection) -> None:
        with self._lock:
            _discard(self._by_user, conn.user_id, conn)
            if conn.scope.kind == "room":
                _discard(self._by_room, conn.scope.target, conn)
        try:
            self.presence.go_offline(conn.scope.presence_target(conn.user_id), conn.id)
        except Exception as exc:  # Redis down: the entry expires by itself
            log.warning("could not clear presence of %s: %s", conn.id, exc)

    def connection_count(self) -> int:
        with self._lock:
            return sum(len(c) for c in self._by_user.values())

    # --- the subscriber ----------------------------------------------------------------------

    def dispatch(self, raw: str) -> None:
        note = json.loads(raw)
        kind, frame, room = note["k"], note["f"], note.get("room")
        with self._lock:
            if kind == "presence":
                targets = list(self._by_room.get(room, ()))
            else:
                targets = [c for user in note.get("to", ()) for c in self._by_user.get(user, ())
                           if _accepts(c, kind, room, note.get("from"))]
        for conn in targets:
            conn.push(frame, note.get("id"))

    def _ensure_started(self) -> None:
        if self._threads and all(t.is_alive() for t in self._threads):
            return
        with self._lock:
            if not self._threads or not all(t.is_alive() for t in self._threads):
                self._threads = [threading.Thread(target=self._subscribe, name="chat-hub", daemon=True),
                                 threading.Thread(target=self._refresh, name="chat-presence", daemon=True)]
                for t in self._threads:
                    t.start()
        self._ready.wait(5)  # frames published before the subscription is live would miss this process

    def _subscribe(self) -> None:
        while True:
            try:
                pubsub = self.store.r.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._ready.set()
                for message in pubsub.listen():
                    try:
                        self.dispatch(message["data"])
                    except Exception:  # one bad note must not stop the hub
                        log.exception("chat hub could not dispatch a frame")
            except Exception as exc:  # connection lost: missed frames are redelivered from the database
                log.warning("chat hub lost its subscription: %s", exc)
                time.sleep(0.5)

    def _refresh(self) -> None:
        while True:
            time.sleep(self.refresh_interval)
            with self._lock:
                conns = [c for cs in self._by_user.values() for c in cs]
                rooms = list(self._by_room)
            try:
                self.presence.refresh(
                    rooms=[(c.scope.target, c.user_id, c.id) for c in conns if c.scope.kind == "room"],
                    targets=[(c.scope.presence_target(c.user_id), c.id) for c in conns],
                )
                # Rooms this process has sockets in: somebody here hears who vanished with a dead process.
                for room_id, users in self.presence.sweep(rooms).items():
                    self._announce_expired(room_id, users)
            except Exception as exc:
                log.warning("chat presence refresh failed: %s", exc)

    def _announce_expired(self, room_id: str, users: list[str]) -> None:
        """`user_left` for users whose last connection expired (their web process died)."""
        publisher = Publisher(self.store)
        for user_id in users:
            log.info("presence of %s in room %s expired", user_id, room_id)
            publisher.publish("presence", presence_frame("user_left", user_id, room_id), room=room_id)


def encode(kind: str, frame: dict, *, to: Iterable[str] = (), room: str | None = None, sender: str | None = None,
           message_id: int | None = None) -> str:
    """The pub/sub note: the frame is serialised once, whatever the number of recipients."""
    return json.dumps({"k": kind, "f": json.dumps(frame, separators=(",", ":")), "to": list(to), "room": room,
                       "from": sender, "id": message_id}, separators=(",", ":"))


def _accepts(conn: Connection, kind: str, room: str | None, sender: str | None) -> bool:
    scope = conn.scope
    if scope.kind == "personal":
        return True
    if kind == "room":
        return scope.kind == "room" and scope.target == room
    return scope.kind == "private" and scope.target == sender


def _discard(index: dict[str, set[Connection]], key: str, conn: Connection) -> None:
    conns = index.get(key)
    if conns is not None:
        conns.discard(conn)
        if not conns:
            del index[key]


def presence_frame(event: str, user_id: str, room_id: str) -> dict:
    """`user_joined` / `user_left` (README "Rooms")."""
    return {"type": event, "userId": user_id, "roomId": room_id, "timestamp": int(time.time() * 1000)}


class Publisher:
    """Publishing needs no hub: the worker and REST views publish too."""

    def __init__(self, store) -> None:
        self.store = store

    def publish(self, kind: str, frame: dict, *, to: Iterable[str] = (), room: str | None = None,
                sender: str | None = None, message_id: int | None = None) -> None:
        self.store.r.publish(self.store.key(CHANNEL), encode(kind, frame, to=to, room=room, sender=sender,
                                                             message_id=message_id))
