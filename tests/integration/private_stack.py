"""A stack of its own for tests that need other settings than the shared one (tight rate limits,
provider budgets, Sentry, metrics counted from zero): gunicorn with several workers and one or
more Celery workers, on the run's database but in a Redis namespace and metrics directory of
their own, so nothing they count or queue mixes with the rest of the suite.
"""
from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from tests.support import Proc, delete_redis_prefix, free_port, gunicorn_argv, stop_all, wait_http_ok, worker_argv


class PrivateStack:
    def __init__(self, base_env: dict[str, str], log_dir: Path, *, web_workers: int = 2, web_servers: int = 1,
                 workers: int = 1, start_workers: bool = True, worker_concurrency: int = 50,
                 **env: str) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.metrics_dir = tempfile.mkdtemp(prefix="chat-studio-private-metrics-")
        self.prefix = base_env["REDIS_KEY_PREFIX"] + f"p{self.tag}:"
        self.env = {**base_env, "REDIS_KEY_PREFIX": self.prefix, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
                    **env}
        self.log_dir = log_dir
        self.web_workers = web_workers
        self.worker_count = workers
        self.worker_concurrency = worker_concurrency
        self.start_workers_now = start_workers
        self.web_server_count = web_servers
        self.webs: list[Proc] = []
        self.workers: list[Proc] = []
        self.urls: list[str] = []

    def __enter__(self) -> "PrivateStack":
        try:
            for i in range(self.web_server_count):
                port = free_port()
                web = Proc(f"web-{self.tag}-{i}", gunicorn_argv(port, workers=self.web_workers), self.env,
                           self.log_dir).start()
                self.webs.append(web)
                self.urls.append(f"http://127.0.0.1:{port}")
            for url, web in zip(self.urls, self.webs):
                wait_http_ok(url + "/readyz", web)
            if self.start_workers_now:
                self.start_workers()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start_workers(self) -> None:
        for i in range(self.worker_count):
            self.workers.append(Proc(f"worker-{self.tag}-{i}", worker_argv(self.worker_concurrency,
                                                                 hostname=f"w{i}-{self.tag}"), self.env,
                                     self.log_dir).start())

    @property
    def url(self) -> str:
        return self.urls[0]

    def logs(self) -> str:
        procs = [*self.webs, *self.workers]
        return "\n".join(p.log_path.read_text(errors="replace") for p in procs if p.log_path.exists())

    def __exit__(self, *exc: object) -> None:
        stop_all([*self.workers, *self.webs])
        delete_redis_prefix(self.env["REDIS_URL"], self.prefix)
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
