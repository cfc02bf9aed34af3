"""Request ids: accepted from `X-Request-ID` (when sane) or generated, returned, and put in every log line."""
from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

from observability import bind_log_context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        bind_log_context(request_id=g.request_id, user_id=None, job_id=None)

    @app.after_request
    def _return_request_id(response):
        rid = getattr(g, "request_id", None)
        if rid:
            response.headers["X-Request-ID"] = rid
        return response
