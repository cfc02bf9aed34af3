"""A background pass every worker process runs on a fixed interval, from worker start to shutdown.

Each pass guards itself across workers (a Redis lock), so every worker may run the loop. The
passes are declared in one list in `worker.py`; nothing starts by being imported.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from celery.signals import worker_ready, worker_shutting_down
from flask import Flask

from settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    interval: Callable[[Settings], float]
    one_pass: Callable[[Flask], object]


def run_in_every_worker(app: Flask, settings: Settings, periodic: Periodic) -> None:
    """Run `periodic.one_pass(app)` every interval in a daemon thread of each worker, once it is ready."""
    stop = threading.Event()

    def loop() -> None:
        interval = periodic.interval(settings)
        while not stop.wait(interval):
            try:
                periodic.one_pass(app)
            except Exception as exc:  # database or Redis briefly down: try again next pass
                log.warning("%s pass failed: %s", periodic.name, exc)

    def start(sender=None, **_kwargs: object) -> None:
        stop.clear()
        threading.Thread(target=loop, name=periodic.name, daemon=True).start()

    def halt(**_kwargs: object) -> None:
        stop.set()

    # weak=False: the receivers are closures that nothing else keeps alive.
    worker_ready.connect(start, weak=False)
    worker_shutting_down.connect(halt, weak=False)
