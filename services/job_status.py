"""The job's vocabulary, shared by every module of the lifecycle: statuses and the terminal event
each ends a stream with, the kinds of job that run as tasks (declared in one list), and the one
way an event of a job is appended."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from extensions.ext_jobs import event_log
from realtime.job_events import StaleAttempt
from services.queue import RUN_BATCH, RUN_COMPLETION


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
# The terminal event each final status ends a job's stream with.
TERMINAL_EVENT = {JobStatus.SUCCEEDED: "completed", JobStatus.FAILED: "failed", JobStatus.CANCELLED: "cancelled"}


def terminal_data(status: str, result: dict | None, error: dict | None) -> dict[str, Any]:
    return {"error": error} if status == JobStatus.FAILED else {"result": result}


@dataclass(frozen=True)
class JobKind:
    """A kind of job that runs as a task: which task to enqueue again when it is lost."""

    name: str
    task: str
    reports_to_plugins: bool = True  # `on_job_completed` fires when it finishes


CHAT = "chat"
BATCH_CREATE = "conversations.batch_create"
BATCH_DELETE = "conversations.batch_delete"
CHAT_BATCH = "chat_batch"  # a batch of completions: no task of its own, its children are chat jobs

KINDS: dict[str, JobKind] = {k.name: k for k in (
    JobKind(CHAT, RUN_COMPLETION),
    JobKind(BATCH_CREATE, RUN_BATCH, reports_to_plugins=False),
    JobKind(BATCH_DELETE, RUN_BATCH, reports_to_plugins=False),
)}


def append_event(job_id: str, attempt: int, type_: str, data: dict) -> None:
    """Append an event unless a newer attempt owns the log (its own events then tell the story)."""
    try:
        event_log().append(job_id, attempt, type_, data)
    except StaleAttempt:
        pass
