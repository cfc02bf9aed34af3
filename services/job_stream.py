"""Follow one job's events for a client (SSE, `/ws/jobs`, the personal socket, `/api/chat/ai`):
replay after the client's last seq, then live, ending with the terminal event — taken from the
job row when the log never received one."""
from __future__ import annotations

from typing import Iterator

from flask import Flask

from extensions import ext_jobs
from realtime.job_events import JobEvent
from realtime.relay import Cursor, follow
from services.errors import InvalidInput
from services.lifecycle import terminal_from_row


def follow_job(app: Flask, job_id: str, cursor: Cursor, idle_timeout: float) -> Iterator[JobEvent | None]:
    """Events after the cursor; None after each `idle_timeout` seconds of silence (keep-alive time)."""
    return follow(ext_jobs.event_log(app), ext_jobs.notifier(app), job_id, cursor, idle_timeout=idle_timeout,
                  finished=terminal_from_row(app, job_id))


def parse_cursor(after: str | int | None, epoch: str | None = None) -> Cursor:
    """A client's resume cursor: `after` as a seq or as `<epoch>:<seq>` (SSE's Last-Event-ID), and
    optionally the epoch on its own (`epoch=` on sockets)."""
    text = "" if after is None else str(after).strip()
    if ":" in text:
        epoch, _, text = text.rpartition(":")
    try:
        seq = int(text) if text else 0
    except ValueError:
        raise InvalidInput("`after` must be a non-negative integer, or `<epoch>:<seq>`") from None
    if seq < 0:
        raise InvalidInput("`after` must be a non-negative integer, or `<epoch>:<seq>`")
    if epoch is not None and not (0 < len(epoch) <= 64 and epoch.isalnum()):
        raise InvalidInput("`epoch` must be the epoch of an event this API sent")
    return Cursor(seq, epoch or None)
