"""Follow one job's events for a client (SSE, `/ws/jobs`, the personal socket, `/api/chat/ai`):
replay after the client's last seq, then live, ending with the terminal event — taken from the
job row when the log never received one."""
from __future__ import annotations

from typing import Iterator

from flask import Flask

from extensions import ext_jobs
from realtime.job_events import JobEvent
from realtime.relay import follow
from services.lifecycle import terminal_from_row


def follow_job(app: Flask, job_id: str, after: int, idle_timeout: float) -> Iterator[JobEvent | None]:
    """Events after `after`; None after each `idle_timeout` seconds of silence (keep-alive time)."""
    return follow(ext_jobs.event_log(app), ext_jobs.notifier(app), job_id, after, idle_timeout=idle_timeout,
                  finished=terminal_from_row(app, job_id))
