"""The access log: one JSON line per HTTP request, through the same JSON logging as everything else.

Fields: `method`, `route` (the template, `/api/jobs/<job_id>`, never the raw path: ids stay out of
the line and it aggregates), `status`, `duration_ms`, `request_id`, `user_id`, `kind` (`http`,
`sse` or `websocket`). A streamed answer (SSE, the NDJSON export) is logged when it closes, with its
whole duration; a WebSocket when it closes (flask-sock returns from the view only then), as 101.
On by default; `ACCESS_LOG=false` turns it off.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from extensions.ext_settings import settings
from metrics import UNMATCHED_ROUTE

log = logging.getLogger("access")


def request_user_id() -> str | None:
    """Whoever this request authenticated as: a verified JWT, or a socket's or stream's user."""
    jwt = g.get("_jwt_extended_jwt") or {}
    return jwt.get("sub") or g.get("chat_user_id") or g.get("stream_user_id")


def _fields(response: Response) -> dict:
    rule = request.url_rule
    websocket = bool(rule is not None and rule.websocket)
    kind = "websocket" if websocket else "sse" if response.mimetype == "text/event-stream" else "http"
    status = 101 if websocket and response.status_code == 200 else response.status_code
    return {"method": request.method, "route": rule.rule if rule is not None else UNMATCHED_ROUTE,
            "status": status, "kind": kind, "request_id": g.get("request_id"), "user_id": request_user_id()}


def _emit(fields: dict, started: float) -> None:
    fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    log.info("%s %s %s", fields["method"], fields["route"], fields["status"], extra={"fields": fields})


def init_app(app: Flask) -> None:
    if not settings(app).access_log:
        return

    @app.before_request
    def _start() -> None:
        g.access_started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        started = g.pop("access_started", None)
        if started is None:
            return response
        fields = _fields(response)
        if response.is_streamed:  # SSE or a streamed export: one line when it ends
            response.call_on_close(lambda: _emit(fields, started))
        else:
            _emit(fields, started)
        return response
