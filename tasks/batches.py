"""The conversation batch task: takes a job id, runs it (see `services/conversation_batches.py`)."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from services.conversation_batches import BatchRunner
from tasks.arguments import valid_id


@shared_task(name="tasks.batches.run_batch", ignore_result=True)
def run_batch(job_id: str) -> None:
    if valid_id(job_id, "job_id"):
        BatchRunner(current_app._get_current_object()).run(job_id)
