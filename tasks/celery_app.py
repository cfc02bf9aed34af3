"""The Celery app, bound to a Flask app so every task runs inside its app context.

Follows Flask's own Celery example (`celery_init_app` with a `FlaskTask`): tasks are declared
with `shared_task` and find the app through `current_app`, so importing a task module creates
nothing.
"""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from celeryconfig import celery_config


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(celery_config(app.extensions["settings"]))
    celery.conf.update(include=TASK_MODULES)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


TASK_MODULES: list[str] = ["tasks.completions", "tasks.batches", "tasks.reconciler", "tasks.deliveries",
                           "tasks.plugins"]
