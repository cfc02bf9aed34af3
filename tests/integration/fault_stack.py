"""A web server, workers and (for Redis faults) a redis-server of the test's own, for fault tests."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import redis

from scripts.run_stack import redis_binary
from settings import Settings
from tests.integration.conftest import settings_env
from tests.support import (
    Proc,
    delete_redis_prefix,
    free_port,
    gunicorn_argv,
    stop_all,
    wait_for,
    wait_http_ok,
    worker_argv,
)

FAST_RECOVERY = dict(JOB_LEASE_SECONDS="3", RECONCILE_INTERVAL="1", RECONCILE_QUEUED_AFTER="3",
                     DEMO_TOKENS_PER_SECOND="100")


class Stack:
    def __init__(self, settings: Settings, log_dir: Path, redis_url: str, **env: str) -> None:
        self.prefix = f"fault-{uuid.uuid4().hex[:8]}:"
        self.env = settings_env(settings, REDIS_URL=redis_url, REDIS_KEY_PREFIX=self.prefix,
                                **{**FAST_RECOVERY, **env})
        self.log_dir = log_dir
        self.redis_url = redis_url
        self.procs: list[Proc] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start_web(self) -> None:
        proc = Proc(f"fault-web-{self.port}", gunicorn_argv(self.port), self.env, self.log_dir).start()
        self.procs.append(proc)
        wait_http_ok(self.url + "/readyz", proc)

    def start_worker(self, name: str) -> Proc:
        proc = Proc(f"fault-{name}", worker_argv(concurrency=20, hostname=name), self.env, self.log_dir).start()
        self.procs.append(proc)
        wait_for(lambda: "ready" in proc.log_tail(200), timeout=30, what=f"worker {name} ready")
        return proc

    def stop(self) -> None:
        stop_all(self.procs)
        delete_redis_prefix(self.redis_url, self.prefix)


@pytest.fixture()
def private_redis() -> Iterator[tuple[str, callable]]:
    """A redis-server of the test's own that keeps nothing across a restart."""
    yield from redis_server(appendonly=False)


@pytest.fixture()
def persistent_redis() -> Iterator[tuple[str, callable]]:
    """A redis-server of the test's own with AOF on (fsync on every write): a restart loses nothing."""
    yield from redis_server(appendonly=True)


def redis_server(appendonly: bool) -> Iterator[tuple[str, callable]]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="fault-redis-")
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if appendonly else ["--appendonly", "no"]
    argv = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence,
            "--dir", workdir]
    state = {"proc": None}

    def start() -> None:
        state["proc"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_for(lambda: _pings(port), timeout=10, what="redis up")

    def restart() -> None:
        state["proc"].kill()
        state["proc"].wait(10)
        time.sleep(1.0)
        start()

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        state["proc"].kill()
        state["proc"].wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _pings(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.2).ping()
    except redis.RedisError:
        return False


