"""Chat plumbing shared by sockets, REST views and the worker: presence, the hub, the publisher, acks."""
from __future__ import annotations

from flask import Flask

from extensions.ext_redis import store
from extensions.ext_settings import settings
from extensions.slot import Slot
from realtime.delivery import AckBatcher
from realtime.hub import ChatHub, Publisher
from realtime.presence import Presence, presence_ttl, refresh_interval

_presence: Slot[Presence] = Slot("chat_presence")
_hub: Slot[ChatHub] = Slot("chat_hub")
_publisher: Slot[Publisher] = Slot("chat_publisher")
_acks: Slot[AckBatcher] = Slot("chat_acks")


def init_app(app: Flask) -> None:
    ping = settings(app).ws_ping_interval
    # Each process refreshes its connections and sweeps its rooms every `refresh_interval`, so a dead
    # process's users get `user_left` within the presence ttl (README "Rooms").
    presence = _presence.set(app, Presence(store(app), presence_ttl(ping), sweep_interval=refresh_interval(ping)))
    _hub.set(app, ChatHub(presence, refresh_interval=refresh_interval(ping)))  # threads start on first socket
    _publisher.set(app, Publisher(store(app)))
    _acks.set(app, AckBatcher(app))


def presence(app: Flask | None = None) -> Presence:
    return _presence.get(app)


def hub(app: Flask | None = None) -> ChatHub:
    return _hub.get(app)


def publisher(app: Flask | None = None) -> Publisher:
    return _publisher.get(app)


def ack_batcher(app: Flask | None = None) -> AckBatcher:
    return _acks.get(app)
