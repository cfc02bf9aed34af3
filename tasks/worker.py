"""Entry point for `celery -A tasks.worker worker` and Flower: builds the app (only when run)."""
from gevent import monkey

if monkey.is_module_patched("socket"):  # `-P gevent` patched the stdlib before importing us
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

from celery import signals  # noqa: E402

from web import create_app  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]


@signals.worker_ready.connect(weak=False)
def _serve_metrics(**_kwargs: object) -> None:
    from web.metrics import serve_worker_metrics

    serve_worker_metrics(flask_app)
