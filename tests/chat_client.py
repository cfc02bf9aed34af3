"""A chat client for the tests: a websocket-client socket that collects frames, de-duplicates and acks."""
from __future__ import annotations

import json
import time
from typing import Callable

import websocket

MESSAGE_TYPES = {"chat_message", "private_message"}


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


class ChatClient:
    """One socket. `received` keeps every message frame in arrival order (duplicates included)."""

    def __init__(self, base_url: str, path: str, token: str, *, auto_ack: bool = True, origin: str | None = None,
                 wait_ready: bool = True, timeout: float = 15) -> None:
        headers = [f"Authorization: Bearer {token}"]
        kwargs = {"origin": origin} if origin else {"suppress_origin": True}
        self.ws = websocket.create_connection(ws_url(base_url, path), timeout=timeout, header=headers, **kwargs)
        self.auto_ack = auto_ack
        self.frames: list[dict] = []
        self.received: list[dict] = []
        self.ready: dict | None = None
        if wait_ready:
            self.until(lambda f: f["type"] == "ready", what="ready")

    def send(self, frame: dict | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def chat(self, content: str, message_id: str | None = None, **extra) -> None:
        self.send({"type": "chat", "content": content, "message_id": message_id, **extra})

    def ack(self, ids: list[int]) -> None:
        self.send({"type": "ack", "ids": ids})

    def recv(self, timeout: float | None = None) -> dict:
        if timeout is not None:
            self.ws.settimeout(timeout)
        raw = self.ws.recv()
        if not raw:
            raise websocket.WebSocketConnectionClosedException("closed")
        frame = json.loads(raw)
        self.frames.append(frame)
        if frame["type"] == "ready":
            self.ready = frame
        if frame["type"] in MESSAGE_TYPES:
            self.received.append(frame)
            if self.auto_ack:
                self.ack([frame["id"]])
        return frame

    def until(self, predicate: Callable[[dict], bool], timeout: float = 20, what: str = "frame") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout}s; got {self.frames[-5:]}")
            try:
                frame = self.recv(timeout=left)
            except websocket.WebSocketTimeoutException:
                continue
            if predicate(frame):
                return frame

    def messages_until(self, count: int, timeout: float = 30, key: str = "id") -> list[dict]:
        """Receive until `count` distinct messages arrived; returns them de-duplicated, first copy first."""
        self.until(lambda _f: len(unique(self.received, key)) >= count, timeout, what=f"{count} messages") \
            if len(unique(self.received, key)) < count else None
        return unique(self.received, key)

    def close_code(self, timeout: float = 15) -> int | None:
        """Read until the server closes; returns its close code."""
        self.ws.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                opcode, data = self.ws.recv_data(control_frame=True)
            except websocket.WebSocketConnectionClosedException:
                return None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.frames.append(json.loads(data))
        raise AssertionError("server did not close the socket")

    def kill(self) -> None:
        """Drop the TCP connection without a close handshake, as a crash or a network cut would."""
        try:
            self.ws.sock.shutdown(2)
        except OSError:
            pass
        self.ws.sock.close()

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


def unique(frames: list[dict], key: str = "id") -> list[dict]:
    seen: set = set()
    out = []
    for f in frames:
        if f[key] not in seen:
            seen.add(f[key])
            out.append(f)
    return out
