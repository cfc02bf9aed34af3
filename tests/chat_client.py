"""A chat client for the tests: a websocket-client socket that collects frames, de-duplicates and acks."""
from __future__ import annotations

import json
import queue
import threading
import time
from typing import Callable

import websocket

MESSAGE_TYPES = {"chat_message", "private_message"}


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


class ChatClient:
    """One socket read by a background thread (which also answers the server's pings, as a browser
    does). `received` keeps every message frame in arrival order, duplicates included."""

    def __init__(self, base_url: str, path: str, token: str, *, auto_ack: bool = True, origin: str | None = None,
                 wait_ready: bool = True, timeout: float = 15, reader: bool = True, sockopt: tuple = ()) -> None:
        headers = [f"Authorization: Bearer {token}"]
        kwargs = {"origin": origin} if origin else {"suppress_origin": True}
        self.ws = websocket.create_connection(ws_url(base_url, path), timeout=timeout, header=headers,
                                              enable_multithread=True, sockopt=sockopt, **kwargs)
        self.auto_ack = auto_ack
        self.frames: list[dict] = []
        self.received: list[dict] = []
        self.ready: dict | None = None
        self.close_status: int | None = None
        self.closed = threading.Event()
        self.reading = threading.Event()  # cleared by `pause()`: the client stops reading, as a stalled one does
        self.reading.set()
        self._inbox: queue.Queue = queue.Queue()
        if reader:
            self.ws.settimeout(None)
            threading.Thread(target=self._read, daemon=True).start()
        if wait_ready:
            self.until(lambda f: f["type"] == "ready", what="ready")

    def _read(self) -> None:
        try:
            while self.reading.wait():
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_status = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    frame = json.loads(data)
                    self._record(frame)
                    self._inbox.put(frame)
        except Exception:
            pass
        finally:
            self.closed.set()

    def _record(self, frame: dict) -> None:
        self.frames.append(frame)
        if frame["type"] == "ready":
            self.ready = frame
        if frame["type"] in MESSAGE_TYPES:
            self.received.append(frame)
            if self.auto_ack:
                try:
                    self.ack([frame["id"]])
                except Exception:
                    pass

    def pause(self) -> None:
        self.reading.clear()

    def send(self, frame: dict | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def chat(self, content: str, message_id: str | None = None, **extra) -> None:
        self.send({"type": "chat", "content": content, "messageId": message_id, **extra})

    def ack(self, ids: list[int]) -> None:
        self.send({"type": "ack", "ids": ids})

    def until(self, predicate: Callable[[dict], bool], timeout: float = 20, what: str = "frame") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout}s; got {self.frames[-5:]}")
            try:
                frame = self._inbox.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.closed.is_set() and self._inbox.empty():
                    raise AssertionError(f"socket closed ({self.close_status}) before {what}; got {self.frames[-5:]}")
                continue
            if predicate(frame):
                return frame

    def messages_until(self, count: int, timeout: float = 30, key: str = "id") -> list[dict]:
        """Wait until `count` distinct messages arrived; returns them de-duplicated, first copy first."""
        deadline = time.monotonic() + timeout
        while len(unique(self.received, key)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(unique(self.received, key))} of {count} messages after {timeout}s")
            if self.closed.is_set():
                raise AssertionError(f"socket closed ({self.close_status}) with "
                                     f"{len(unique(self.received, key))} of {count} messages")
            time.sleep(0.02)
        return unique(self.received, key)

    def close_code(self, timeout: float = 15) -> int | None:
        """Wait until the server closes; returns its close code (None: cut without one)."""
        if not self.closed.wait(timeout):
            raise AssertionError("server did not close the socket")
        return self.close_status

    def kill(self) -> None:
        """Drop the TCP connection without a close handshake, as a crash or a network cut would."""
        try:
            self.ws.sock.shutdown(2)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.ws.close(timeout=2)
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
