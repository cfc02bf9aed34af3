"""A local stand-in for Sentry's ingest: records the envelopes the SDK posts to
`/api/<project>/envelope/` (brotli, gzip or plain), so tests can see which events a process reported."""
from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "br":  # the SDK prefers brotli when the module is installed
            import brotli

            raw = brotli.decompress(raw)
        if self.path.rstrip("/").endswith("/envelope"):
            self.server.record(raw)
        body = json.dumps({"id": "0" * 32}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.envelopes: list[bytes] = []
        self.lock = threading.Lock()

    def record(self, raw: bytes) -> None:
        with self.lock:
            self.envelopes.append(raw)


class FakeSentry:
    """`with FakeSentry() as sentry:` → `sentry.dsn`, `sentry.events()` (the error events received)."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self._server.server_address[1]}/1"

    def events(self) -> list[dict]:
        from sentry_sdk.envelope import Envelope

        with self._server.lock:
            raws = list(self._server.envelopes)
        out = []
        for raw in raws:
            for item in Envelope.deserialize(raw).items:
                if item.type == "event" and item.payload.json is not None:
                    out.append(item.payload.json)
        return out

    def __enter__(self) -> "FakeSentry":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
