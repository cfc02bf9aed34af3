"""Job event streams for clients: WebSocket `/ws/jobs/<id>` (flask-sock) and SSE `/api/jobs/<id>/events`.

Both replay from the client's last seq (`after`, or SSE's `Last-Event-ID`), follow live, and end
after the terminal event. Authentication and the Origin check happen before the WebSocket
handshake, so a refused client gets a plain HTTP error with our envelope.
"""
from __future__ import annotations

import json

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    request,
    stream_with_context,
)
from flask_jwt_extended import decode_token
from flask_sock import Sock
from jwt import ExpiredSignatureError
from sqlalchemy import select

from metrics import metrics
from models import Job, User
from models.db import db
from realtime.job_events import JobEvent, event_log_for
from realtime.relay import follow, notifier_for
from web.errors import ApiError, not_found
from web.openapi import endpoint
from web.sessions import REVOKED_MESSAGE, is_revoked
from web.schemas_jobs import EventsQuery

bp = Blueprint("streams", __name__)
sock = Sock()
WS_ENDPOINTS = {"streams.job_socket"}


def authenticate_stream_user() -> User:
    """A user from `Authorization: Bearer` or a `token` query parameter (browsers cannot set headers
    on WebSocket or EventSource requests). Refusals say what HTTP says for the same token."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.args.get("token", "")
    if not token:
        raise ApiError(401, "missing or malformed Authorization header", code="unauthorized")
    try:
        payload = decode_token(token)
    except ExpiredSignatureError:
        raise ApiError(401, "token has expired", code="unauthorized") from None
    except Exception:  # malformed or badly signed: all the same to the client
        raise ApiError(401, "invalid token", code="unauthorized") from None
    if payload.get("type") != "access":
        raise ApiError(401, "invalid token", code="unauthorized")
    if is_revoked(payload):
        raise ApiError(401, REVOKED_MESSAGE, code="unauthorized")
    user = db.session.get(User, payload["sub"])
    if user is None:
        raise ApiError(401, "user no longer exists", code="unauthorized")
    g.stream_user_id = user.id  # for the access log
    return user


def check_origin() -> None:
    allowed = current_app.extensions["settings"].allowed_origins
    origin = request.headers.get("Origin")
    if origin is None or "*" in allowed:
        return  # non-browser clients send no Origin; browsers always do
    if origin not in allowed and origin.split("://", 1)[-1] != request.host:  # same origin is always fine
        raise ApiError(403, "origin not allowed", code="forbidden")


def _owned_job(user: User, job_id: str) -> Job:
    job = db.session.execute(select(Job).where(Job.id == job_id, Job.user_id == user.id)).scalar_one_or_none()
    if job is None:
        raise not_found("job")
    return job


def terminal_from_row(app: Flask, job_id: str):
    """A terminal event built from the job row, for a log that never received one."""

    def finished(next_seq: int) -> JobEvent | None:
        with app.app_context():
            job = db.session.get(Job, job_id)
            db.session.remove()
        if job is None or not job.is_terminal:
            return None
        if job.status == "failed":
            return JobEvent(next_seq, "failed", job.attempts, {"error": job.error})
        return JobEvent(next_seq, "completed" if job.status == "succeeded" else "cancelled", job.attempts,
                        {"result": job.result})

    return finished


def _after(value: str | None) -> int:
    try:
        after = int(value) if value not in (None, "") else 0
    except ValueError:
        raise ApiError(422, "`after` must be a non-negative integer", code="validation_error") from None
    if after < 0:
        raise ApiError(422, "`after` must be a non-negative integer", code="validation_error")
    return after


@bp.before_request
def _guard_websockets() -> None:
    if request.endpoint in WS_ENDPOINTS:
        check_origin()
        user = authenticate_stream_user()
        _owned_job(user, (request.view_args or {}).get("job_id", ""))
        g.stream_after = _after(request.args.get("after"))
        db.session.remove()  # hold no database connection for the life of the socket


@sock.route("/ws/jobs/<job_id>", bp=bp)
def job_socket(ws, job_id: str) -> None:
    with metrics().open_websockets.track_inprogress():
        _relay_to_socket(ws, job_id)


def _relay_to_socket(ws, job_id: str) -> None:
    app = current_app._get_current_object()
    for event in follow(event_log_for(app), notifier_for(app), job_id, g.stream_after, idle_timeout=5.0,
                        finished=terminal_from_row(app, job_id)):
        if event is None:
            if not ws.connected:
                return
            continue
        ws.send(json.dumps(event.to_wire(job_id), separators=(",", ":")))
    ws.close(reason=1000, message="job finished")


@bp.get("/api/jobs/<job_id>/events")
@endpoint("Job events as Server-Sent Events (id = seq; Last-Event-ID honoured)", tags=["jobs"],
          query=EventsQuery, responses={200: None}, errors=(404,))
def job_events(job_id: str, query: EventsQuery):
    user = authenticate_stream_user()
    _owned_job(user, job_id)
    db.session.remove()
    last_event_id = request.headers.get("Last-Event-ID")
    after = _after(last_event_id) if last_event_id else query.after
    app = current_app._get_current_object()
    keepalive = app.extensions["settings"].sse_keepalive

    def generate():
        yield "retry: 2000\n\n"
        for event in follow(event_log_for(app), notifier_for(app), job_id, after, idle_timeout=keepalive,
                            finished=terminal_from_row(app, job_id)):
            if event is None:
                yield ": keep-alive\n\n"
                continue
            data = json.dumps(event.to_wire(job_id), separators=(",", ":"))
            yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def init_app(app: Flask) -> None:
    settings = app.extensions["settings"]
    # A larger incoming frame closes the connection (1009) on every socket of ours, job streams included.
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": settings.ws_ping_interval,
                                                  "max_message_size": settings.ws_max_frame_bytes})
    sock.init_app(app)
    app.register_blueprint(bp)
