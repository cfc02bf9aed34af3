"""A webhook receiver on loopback for the tests: records every request and answers from a per-path
script (status, delay in seconds, extra headers), the last entry repeating."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.hits: list[Hit] = []
        self.scripts: dict[str, list[tuple[int, float, dict[str, str]]]] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *steps: tuple[int, float] | tuple[int, float, dict[str, str]]) -> str:
        self.scripts[path] = [(s[0], s[1], s[2] if len(s) > 2 else {}) for s in steps]
        return self.base + path

    def hits_on(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def _answer(self, path: str) -> tuple[int, float, dict[str, str]]:
        with self._lock:
            steps = self.scripts.get(path, [(200, 0.0, {})])
            n = len([h for h in self.hits if h.path == path]) - 1
            return steps[min(n, len(steps) - 1)]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, delay, headers = receiver._answer(self.path)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> "Receiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
