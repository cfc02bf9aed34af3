"""Plugin hooks, run by the worker outside every request path."""
from __future__ import annotations

from typing import Any

from celery import shared_task
from flask import current_app

from services.plugin_events import run_hook


@shared_task(name="tasks.plugins.run_plugin_hook", ignore_result=True)
def run_plugin_hook(plugin_id: str, hook: str, events: list[dict[str, Any]]) -> None:
    run_hook(current_app._get_current_object(), plugin_id, hook, events)
