"""gunicorn settings for `web:` (Procfile). gevent workers: each open WebSocket is a cheap greenlet."""
import os

_host = os.environ.get("HOST", "0.0.0.0")
bind = f"[{_host}]:{os.environ.get('PORT', '8000')}" if ":" in _host else f"{_host}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", "10000"))
timeout = 60
graceful_timeout = 10  # open WebSockets must not hold a deploy for long
keepalive = 5
control_socket_disable = True  # several instances side by side on one machine
accesslog = None
errorlog = "-"


def post_fork(server, worker):  # noqa: ARG001 - gunicorn hook signature
    # gevent has patched the standard library by now; make psycopg2 cooperative too.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def child_exit(server, worker):  # noqa: ARG001 - gunicorn hook signature
    # A dead worker's live gauges (open WebSockets) must stop counting in /metrics.
    from metrics import mark_process_dead
    from settings import get_settings

    mark_process_dead(get_settings(), worker.pid)


def post_worker_init(worker):  # noqa: ARG001 - gunicorn hook signature
    # The app and its imports live as long as the process: move them out of the collector's sight,
    # so full collections (triggered by request garbage) no longer walk them.
    import gc

    gc.freeze()
