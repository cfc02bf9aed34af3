"""`/api/jobs/<id>/events`: a job's events as Server-Sent Events (id = `<epoch>:<seq>`; `Last-Event-ID` honoured)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request, stream_with_context

from extensions.ext_settings import settings
from models.db import db
from realtime.job_stream import follow_job, parse_cursor
from realtime.socket_auth import authenticate_stream_user
from schemas.jobs import EventsQuery
from services.jobs import owned_job
from web.openapi import endpoint

bp = Blueprint("job_events", __name__)


@bp.get("/api/jobs/<job_id>/events")
@endpoint("Job events as Server-Sent Events (id = `<epoch>:<seq>`; Last-Event-ID honoured; a `reset` event when the log was lost)", tags=["jobs"],
          query=EventsQuery, responses={200: None}, errors=(404,))
def job_events(job_id: str, query: EventsQuery):
    user = authenticate_stream_user()
    owned_job(db.session(), user.id, job_id)
    db.session.remove()
    last_event_id = request.headers.get("Last-Event-ID")
    cursor = parse_cursor(last_event_id) if last_event_id else parse_cursor(query.after, query.epoch)
    app = current_app._get_current_object()
    keepalive = settings(app).sse_keepalive

    def generate():
        yield "retry: 2000\n\n"
        for event in follow_job(app, job_id, cursor, idle_timeout=keepalive):
            if event is None:
                yield ": keep-alive\n\n"
                continue
            data = event.wire_json(job_id)
            yield f"id: {event.epoch}:{event.seq}\nevent: {event.type}\ndata: {data}\n\n"

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
