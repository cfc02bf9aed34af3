"""The Celery app, bound to the Flask app so every task runs inside its app context.

Follows Flask's own Celery example (`celery_init_app` with a `FlaskTask`): tasks are declared
with `shared_task` and find the app through `current_app`, so importing a task module creates
nothing.
"""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from celeryconfig import celery_config
from extensions.ext_settings import settings
from extensions.slot import Slot
from observability import init_celery_context

TASK_MODULES: list[str] = ["tasks.completions", "tasks.batches", "tasks.deliveries", "tasks.plugins",
                             "tasks.webhooks"]

_slot: Slot[Celery] = Slot("celery")


def init_app(app: Flask) -> None:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(celery_config(settings(app)))
    celery.conf.update(include=TASK_MODULES)
    celery.set_default()
    init_celery_context(celery)
    _slot.set(app, celery)


def celery_app(app: Flask | None = None) -> Celery:
    return _slot.get(app)
