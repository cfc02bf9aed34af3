"""The completion task: takes a job id, runs it (see `services/completion.py`)."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from services.completion import CompletionRunner
from tasks.arguments import valid_id


@shared_task(name="tasks.completions.run_completion", ignore_result=True)
def run_completion(job_id: str, hint: object = None) -> None:
    """`hint`: the job's request, sent with a fresh task so the vendor call can start before the claim."""
    if valid_id(job_id, "job_id"):
        CompletionRunner(current_app._get_current_object()).run(job_id, hint)
