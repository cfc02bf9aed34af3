"""What every `/v1` blueprint shares: Bearer authentication (personal API key or access token), the JSON
body, SSE framing, and domain errors in OpenAI's shape."""
from __future__ import annotations

import json
from typing import Any, Iterable

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from extensions.ext_settings import settings
from models.db import db
from realtime.socket_auth import authenticate_stream_user
from services import api_keys
from services.errors import DomainError
from web.errors import ApiError, error_response
from web.v1.errors import api_error


def authenticate() -> None:
    """`before_request` of every `/v1` blueprint: sets `g.v1_user_id` or answers 401."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token:
        raise ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                       code="invalid_api_key")
    if api_keys.looks_like_api_key(token):
        g.v1_user_id = api_keys.authenticate(db.session(), token)
        return
    g.v1_user_id = authenticate_stream_user().id  # our JWT access tokens, blocklist included


def blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix="/v1")
    bp.before_request(authenticate)

    @bp.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        err = api_error(exc)
        return error_response(err.status, err.code, err.message, err.details, err.headers)

    return bp


def user_id() -> str:
    return g.v1_user_id


def json_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ApiError(400, "We could not parse the JSON body of your request.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    if b"\x00" in raw or b"\\u0000" in raw:  # PostgreSQL text cannot hold NUL
        raise ApiError(400, "The request body must not contain NUL characters.", code="invalid_json")
    return body


def sse(data: Any, event: str | None = None) -> str:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


def sse_response(chunks: Iterable[str], headers: dict[str, str] | None = None) -> Response:
    return Response(stream_with_context(chunks), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})


def keepalive() -> float:
    return settings().sse_keepalive


def app_obj():
    return current_app._get_current_object()
