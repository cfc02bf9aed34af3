"""A local stand-in for the OpenAI and Anthropic APIs, so the official SDKs run for real in tests
and benchmarks with no network.

Speaks `POST /v1/chat/completions` (streaming SSE `data:` chunks ending in `[DONE]`, usage chunk
with `stream_options.include_usage`, or one JSON body), `GET /v1/models`, and Anthropic's
`POST /v1/messages` (streaming with `event:` lines). Replies are deterministic: `Fake reply to:
<prompt> ...`, or exactly N tokens `w0 w1 ...` with `[fake:tokens=N]`; `[fake:timestamps]` makes
each token the server's send time (epoch seconds), for latency measurements. Faults are
scripted per request through `script([...])` or `POST /_control/script`:
`{"status": 429, "retry_after": 1}`, `{"status": 500}`, `{"status": 401}`,
`{"status": 400, "context_window": true}`, `{"hang": 30}`, `{"drop_after_tokens": 3}`,
`{"pause_after_tokens": 3, "pause": 4}` (OpenAI streams: silent for 4 s after 3 tokens).
It counts the completion requests it answers at once (`max_in_flight`), to check budgets.
"""
from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TOKENS = re.compile(r"\[fake:tokens=(\d{1,6})\]")


def reply_tokens(prompt: str) -> list[str]:
    m = _TOKENS.search(prompt)
    if m:
        return [f"w{i} " for i in range(int(m.group(1)))]
    return [w + " " for w in f"Fake reply to: {prompt[:100]} with a few more words".split()]


def _last_user_text(messages: list[dict]) -> str:
    for m in reversed(messages or []):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Like real vendors' servers: each SSE event leaves at once instead of waiting on Nagle.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # ------------------------------------------------------------ plumbing

    def _json_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _sse(self, data: str, event: str | None = None) -> None:
        chunk = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
        self.wfile.write(chunk.encode())
        self.wfile.flush()

    def _fault(self, vendor: str) -> dict | None:
        """Apply the next scripted behaviour; returns it if the request was fully answered."""
        behaviour = self.server.next_behaviour()
        if behaviour is None:
            return {}
        if "hang" in behaviour:
            time.sleep(float(behaviour["hang"]))
            self.close_connection = True
            return None
        status = behaviour.get("status")
        if status:
            message = "maximum context length exceeded" if behaviour.get("context_window") else f"scripted {status}"
            headers = {}
            if "retry_after" in behaviour:
                headers["Retry-After"] = str(behaviour["retry_after"])
            if vendor == "openai":
                code = "context_length_exceeded" if behaviour.get("context_window") else None
                body = {"error": {"message": message, "type": "scripted", "code": code}}
            else:
                kind = {429: "rate_limit_error", 401: "authentication_error", 529: "overloaded_error"}.get(
                    status, "invalid_request_error" if status < 500 else "api_error")
                if behaviour.get("context_window"):
                    message = "prompt is too long: 300000 tokens > 200000 maximum"
                body = {"type": "error", "error": {"type": kind, "message": message}}
            self._send_json(status, body, headers)
            return None
        return behaviour

    def _pace(self, i: int, start: float) -> None:
        rate = self.server.tokens_per_second
        if rate > 0:
            wait = start + (i + 1) / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _token_text(self, token: str, timestamps: bool) -> str:
        return f"{time.time():.6f} " if timestamps else token

    # ------------------------------------------------------------ routes

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/v1/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.server.models]})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        if self.path == "/_control/script":
            self.server.script(self._json_body())
            self._send_json(200, {"ok": True})
            return
        body = self._json_body()
        self.server.record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if not self.path.endswith(("/chat/completions", "/v1/messages")):
            self._send_json(404, {"error": {"message": "not found"}})
            return
        self.server.enter()
        try:
            if self.path.endswith("/chat/completions"):
                self._openai(body)
            else:
                self._anthropic(body)
        finally:
            self.server.leave()

    def _openai(self, body: dict) -> None:
        behaviour = self._fault("openai")
        if behaviour is None:
            return
        prompt = _last_user_text(body.get("messages", []))
        tokens = reply_tokens(prompt)[: int(body.get("max_tokens") or 10**6)]
        timestamps = "[fake:timestamps]" in prompt
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        model = body.get("model", "gpt-4o-mini")
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(tokens),
                 "total_tokens": len(prompt.split()) + len(tokens)}
        if not body.get("stream"):
            self._send_json(200, {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                                  "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                      "role": "assistant", "content": "".join(tokens)}}], "usage": usage})
            return
        self._start_sse()

        def chunk(delta: dict, finish: str | None = None) -> str:
            return json.dumps({"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        try:
            self._sse(chunk({"role": "assistant", "content": ""}))
            start = time.monotonic()
            for i, token in enumerate(tokens):
                if behaviour.get("drop_after_tokens") is not None and i >= behaviour["drop_after_tokens"]:
                    return  # cut the connection mid-stream
                if i == behaviour.get("pause_after_tokens"):
                    time.sleep(float(behaviour.get("pause", 1)))
                    start = time.monotonic() - i / self.server.tokens_per_second if self.server.tokens_per_second else 0
                self._pace(i, start)
                self._sse(chunk({"content": self._token_text(token, timestamps)}))
            self._sse(chunk({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                self._sse(json.dumps({"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                                      "model": model, "choices": [], "usage": usage}))
            self._sse("[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            self.server.disconnects += 1

    def _anthropic(self, body: dict) -> None:
        behaviour = self._fault("anthropic")
        if behaviour is None:
            return
        prompt = _last_user_text(body.get("messages", []))
        tokens = reply_tokens(prompt)[: int(body.get("max_tokens") or 10**6)]
        timestamps = "[fake:timestamps]" in prompt
        mid = f"msg_{uuid.uuid4().hex[:12]}"
        model = body.get("model", "claude-sonnet-4-5")
        in_tokens = len(prompt.split()) + len(str(body.get("system", "")).split())
        self._start_sse()
        try:
            self._sse(json.dumps({"type": "message_start", "message": {
                "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": in_tokens, "output_tokens": 1}}}), "message_start")
            self._sse(json.dumps({"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}), "content_block_start")
            self._sse(json.dumps({"type": "ping"}), "ping")
            start = time.monotonic()
            for i, token in enumerate(tokens):
                if behaviour.get("drop_after_tokens") is not None and i >= behaviour["drop_after_tokens"]:
                    return
                self._pace(i, start)
                self._sse(json.dumps({"type": "content_block_delta", "index": 0, "delta": {
                    "type": "text_delta", "text": self._token_text(token, timestamps)}}), "content_block_delta")
            self._sse(json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop")
            self._sse(json.dumps({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": len(tokens)}}), "message_delta")
            self._sse(json.dumps({"type": "message_stop"}), "message_stop")
        except (BrokenPipeError, ConnectionResetError):
            self.server.disconnects += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # hundreds of benchmark streams connect within a second or two

    def __init__(self, addr: tuple[str, int], tokens_per_second: float, models: list[str]) -> None:
        super().__init__(addr, _Handler)
        self.tokens_per_second = tokens_per_second
        self.models = models
        self.requests: list[dict] = []
        self.disconnects = 0
        self.in_flight = 0  # completion requests being answered right now
        self.max_in_flight = 0  # the most at any one time since the last reset
        self._script: deque[dict] = deque()
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def script(self, behaviours: list[dict]) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def next_behaviour(self) -> dict | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def record(self, path: str, headers: dict, body: dict) -> None:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "json": body})


class FakeLLMServer:
    """`with FakeLLMServer(tokens_per_second=50) as srv:` → `srv.base_url` (no `/v1`), `srv.script([...])`."""

    def __init__(self, tokens_per_second: float = 0.0, port: int = 0,
                 models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5")) -> None:
        self._server = _Server(("127.0.0.1", port), tokens_per_second, list(models))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[dict]:
        return self._server.requests

    @property
    def disconnects(self) -> int:
        return self._server.disconnects

    @property
    def max_in_flight(self) -> int:
        """The most completion requests answered at once since `reset_in_flight()`."""
        return self._server.max_in_flight

    def reset_in_flight(self) -> None:
        with self._server._lock:
            self._server.max_in_flight = self._server.in_flight

    def script(self, behaviours: list[dict]) -> None:
        self._server.script(behaviours)

    def set_rate(self, tokens_per_second: float) -> None:
        self._server.tokens_per_second = tokens_per_second

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    if "--gevent" in sys.argv:
        # Greenlets instead of OS threads: with hundreds of streams, threads queueing for the GIL
        # would delay tokens after they are stamped and make the server, not the system, the bottleneck.
        from gevent import monkey

        monkey.patch_all()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gevent", action="store_true", help="serve with gevent (for benchmarks)")
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--tokens-per-second", type=float, default=20.0)
    args = ap.parse_args()
    with FakeLLMServer(args.tokens_per_second, args.port) as srv:
        print(f"fake LLM server on {srv.base_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
