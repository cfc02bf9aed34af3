"""Entry point for `celery -A worker worker` and Flower: the app with its shared objects (no HTTP
routes), its Celery app, and the periodic passes every worker runs."""
from gevent import monkey

if monkey.is_module_patched("socket"):  # `-P gevent` patched the stdlib before importing us
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

import gc  # noqa: E402

from celery import signals  # noqa: E402

from celeryconfig import broker_pool_size  # noqa: E402
from extensions.core import create_core_app  # noqa: E402
from extensions.ext_celery import celery_app  # noqa: E402
from extensions.ext_redis import store  # noqa: E402
from metrics import serve_worker_metrics  # noqa: E402
from services.deliveries import sweep_once  # noqa: E402
from services.reconciler import reconcile_once  # noqa: E402
from services.webhook_delivery import sweep_once as sweep_webhooks  # noqa: E402
from settings import get_settings  # noqa: E402
from tasks.periodic import Periodic, run_in_every_worker  # noqa: E402

PERIODIC = (
    Periodic("reconciler", lambda s: s.reconcile_interval, reconcile_once),
    Periodic("chat-redelivery", lambda s: s.chat_redelivery_interval, sweep_once),
    Periodic("webhook-sweep", lambda s: s.webhook_sweep_interval, sweep_webhooks),
)

settings = get_settings()
flask_app = create_core_app(settings, "worker")
celery = celery_app(flask_app)
for periodic in PERIODIC:
    run_in_every_worker(flask_app, settings, periodic)


@signals.celeryd_init.connect(weak=False)
def _size_broker_pool(conf=None, options=None, **_kwargs: object) -> None:
    # A failed ack (`Too many connections`) keeps the task's prefetch slot taken and redelivers it later.
    conf.broker_transport_options = {**conf.broker_transport_options,
                                     "max_connections": broker_pool_size((options or {}).get("concurrency"))}


@signals.worker_ready.connect(weak=False)
def _serve_metrics(**_kwargs: object) -> None:
    serve_worker_metrics(store(flask_app).r, settings)
    # What start-up made lives as long as the process: full collections need not walk it again.
    gc.freeze()
