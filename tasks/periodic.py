"""A background pass every worker process runs on a fixed interval, from worker start to shutdown.

The reconciler and the chat redelivery sweep both need one; each pass guards itself across
workers (a Redis lock), so every worker may run the loop.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from celery.signals import worker_ready, worker_shutting_down
from flask import Flask

log = logging.getLogger(__name__)


def run_in_every_worker(name: str, interval_of: Callable[[Flask], float], one_pass: Callable[[Flask], object]) -> None:
    """Run `one_pass(app)` every `interval_of(app)` seconds in a daemon thread of each worker."""
    stop = threading.Event()

    def loop(app: Flask) -> None:
        interval = interval_of(app)
        while not stop.wait(interval):
            try:
                one_pass(app)
            except Exception as exc:  # database or Redis briefly down: try again next pass
                log.warning("%s pass failed: %s", name, exc)

    def start(sender=None, **_kwargs: object) -> None:
        from tasks.worker import flask_app

        stop.clear()
        threading.Thread(target=loop, args=(flask_app,), name=name, daemon=True).start()

    def halt(**_kwargs: object) -> None:
        stop.set()

    # weak=False: the receivers are closures that nothing else keeps alive.
    worker_ready.connect(start, weak=False)
    worker_shutting_down.connect(halt, weak=False)
