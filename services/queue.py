"""The one port through which services put work on the queue.

Tasks are named, not imported, so services never depend on the task modules (which depend on
services). Publishing retries briefly; a broker that stays down raises to the caller.
"""
from __future__ import annotations

from typing import Any

from celery import current_app as default_celery
from flask import has_app_context

from celeryconfig import COMPLETIONS_QUEUE, DEFAULT_QUEUE
from extensions.ext_celery import celery_app

RUN_COMPLETION = "tasks.completions.run_completion"
RUN_BATCH = "tasks.batches.run_batch"
REDELIVER = "tasks.deliveries.redeliver"
PLUGIN_HOOK = "tasks.plugins.run_plugin_hook"
DELIVER_WEBHOOK = "tasks.webhooks.deliver_webhook"

QUEUE_OF = {RUN_COMPLETION: COMPLETIONS_QUEUE, RUN_BATCH: DEFAULT_QUEUE, REDELIVER: DEFAULT_QUEUE,
            PLUGIN_HOOK: DEFAULT_QUEUE, DELIVER_WEBHOOK: DEFAULT_QUEUE}
_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def send(task: str, *args: Any, retry: bool = True) -> None:
    """Publish `task(*args)` on its queue (raises if the broker cannot be reached)."""
    celery = celery_app() if has_app_context() else default_celery  # the app's, else the process default
    options = {"retry": retry, "retry_policy": _RETRY} if retry else {"retry": False}
    celery.send_task(task, args=list(args), queue=QUEUE_OF[task], argsrepr=_shown(args), kwargsrepr="{}",
                     **options)


def _shown(args: tuple) -> str:
    """The arguments as task events and Flower show them: ids as they are, anything else (a job's
    request, which holds a user's messages) as `…`. Celery's own rendering would show it all, and
    costs more than the rest of a publish."""
    return "(" + ", ".join(repr(a) if isinstance(a, (str, int)) else "…" for a in args) + ")"
