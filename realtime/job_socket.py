"""`/ws/jobs/<id>`: a job's events over a WebSocket. Replays after the cursor (`after`, with the
`epoch` of the client's last event), follows live, and closes
after the terminal event. Authentication, ownership and the Origin check happen before the
handshake, so a refused client gets a plain HTTP error with our envelope."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from metrics import metrics
from models.db import db
from realtime.job_stream import follow_job, parse_cursor
from realtime.socket_auth import authenticate_stream_user, check_origin
from realtime.sockets import sock
from services.jobs import owned_job

bp = Blueprint("streams", __name__)
WS_ENDPOINTS = {"streams.job_socket"}


@bp.before_request
def _guard_websockets() -> None:
    if request.endpoint in WS_ENDPOINTS:
        check_origin()
        user = authenticate_stream_user()
        owned_job(db.session(), user.id, (request.view_args or {}).get("job_id", ""))
        g.stream_cursor = parse_cursor(request.args.get("after"), request.args.get("epoch"))
        db.session.remove()  # hold no database connection for the life of the socket


@sock.route("/ws/jobs/<job_id>", bp=bp)
def job_socket(ws, job_id: str) -> None:
    with metrics().open_websockets.track_inprogress():
        for event in follow_job(current_app._get_current_object(), job_id, g.stream_cursor, idle_timeout=5.0):
            if event is None:
                if not ws.connected:
                    return
                continue
            ws.send(event.wire_json(job_id))
        ws.close(reason=1000, message="job finished")
