"""A private stack for benchmarks: its own PostgreSQL database and Redis namespace, a gunicorn server,
Celery workers and (optionally) the fake vendor server, all removed on exit."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import (  # noqa: E402
    Proc,
    create_migrated_database,
    delete_redis_prefix,
    drop_database,
    free_port,
    gunicorn_argv,
    stop_all,
    wait_for,
    wait_http_ok,
    worker_argv,
)

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class BenchStack:
    def __init__(self, **env: str) -> None:
        run = uuid.uuid4().hex[:8]
        self.db_name = f"chat_bench_{run}"
        self.prefix = f"bench-{run}:"
        self.log_dir = Path(tempfile.mkdtemp(prefix="chat-bench-logs-"))
        self.database_url = ""
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
        self.metrics_dir = tempfile.mkdtemp(prefix="chat-bench-metrics-")
        # Benchmarks drive far more traffic from one client than the production rate limits allow.
        generous = {name: "100000000/minute" for name in ("RATELIMIT_DEFAULT", "RATELIMIT_CHAT", "RATELIMIT_LOGIN_IP",
                                                          "RATELIMIT_LOGIN_ACCOUNT", "RATELIMIT_REGISTER_IP")}
        self.env.update(REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=self.prefix, PROMETHEUS_MULTIPROC_DIR=self.metrics_dir,
                        ENVIRONMENT="test", JWT_SECRET_KEY="bench-" + "k" * 40, LOG_LEVEL="WARNING",
                        **{**generous, **env})
        self.procs: list[Proc] = []
        self.url = ""

    def __enter__(self) -> "BenchStack":
        self.database_url = create_migrated_database(PG_ADMIN_URL, self.db_name)
        self.env["DATABASE_URL"] = self.database_url
        return self

    def start_web(self, workers: int = 2, **env: str) -> str:
        port = free_port()
        proc = Proc(f"web-{port}", gunicorn_argv(port, workers), {**self.env, **env}, self.log_dir).start()
        self.procs.append(proc)
        self.url = f"http://127.0.0.1:{port}"
        wait_http_ok(self.url + "/readyz", proc)
        return self.url

    def start_worker(self, name: str, concurrency: int) -> Proc:
        proc = Proc(f"worker-{name}", worker_argv(concurrency, hostname=name), self.env, self.log_dir).start()
        self.procs.append(proc)
        wait_for(lambda: "ready" in proc.log_tail(200), timeout=60, what=f"worker {name}")
        return proc

    def __exit__(self, *exc: object) -> None:
        stop_all(self.procs)
        drop_database(PG_ADMIN_URL, self.db_name)
        delete_redis_prefix(REDIS_URL, self.prefix)
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
