"""The flask-sock extension every WebSocket route of ours registers with."""
from __future__ import annotations

from flask import Flask
from flask_sock import Sock

from extensions.ext_settings import settings

sock = Sock()


def init_app(app: Flask) -> None:
    s = settings(app)
    # A larger incoming frame closes the connection (1009) on every socket of ours, job streams included.
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": s.ws_ping_interval,
                                                  "max_message_size": s.ws_max_frame_bytes})
    sock.init_app(app)
