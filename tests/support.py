"""Helpers for tests that run real processes: free ports, waiting for readiness, stopping by PID."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process in its own process group, with its output in a log file for post-mortems."""

    started: list["Proc"] = []  # every process of the run, for `signal_running`

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self._signalled: int | None = None

    def start(self) -> "Proc":
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        log.close()
        self._signalled = None
        Proc.started.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        self.signal(sig)
        self.wait_stopped(timeout)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the group once (a second SIGTERM would change how a Celery worker stops)."""
        if self.alive() and self._signalled != sig:
            self._signalled = sig
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait_stopped(self, timeout: float = 20) -> None:
        """Wait for a signalled process; kill its group if it outlives `timeout`."""
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(10)

    def kill9(self) -> None:
        """SIGKILL the whole group (the worker's pool processes included), as a crash would."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(10)  # type: ignore[union-attr]


def signal_running() -> None:
    """SIGTERM to every process of the run still running: at the end of the run, so the fixtures
    that stop them one after another each find theirs already winding down."""
    for proc in Proc.started:
        proc.signal()


def stop_all(procs: list[Proc]) -> None:
    """Stop processes side by side (a Celery worker takes seconds to wind down; the others need not
    wait for it): signal every one, then wait for each."""
    for proc in procs:
        proc.signal()
    for proc in procs:
        proc.wait_stopped()


def wait_http_ok(url: str, proc: Proc | None = None, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    tail = proc.log_tail() if proc else ""
    raise RuntimeError(f"{url} not ready after {timeout}s (last: {last})\n{tail}")


def wait_for(predicate, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def gunicorn_argv(port: int, workers: int = 1) -> list[str]:
    return [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "wsgi:app"]


def worker_argv(concurrency: int = 50, hostname: str = "test") -> list[str]:
    return [str(BIN / "celery"), "-A", "worker", "worker", "-P", "gevent", "-c", str(concurrency),
            "-Q", "completions,default", "--without-mingle", "--without-gossip", "-l", "INFO",
            "-n", f"{hostname}@%h"]


def admin_exec(admin_url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) as the admin user."""
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def create_migrated_database(admin_url: str, name: str) -> str:
    """A new PostgreSQL database built by `alembic upgrade head`; returns its SQLAlchemy URL."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.engine import make_url

    admin_exec(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg2", database=name)
    rendered = url.render_as_string(hide_password=False)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = rendered
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    return rendered


@contextmanager
def migrated_database(admin_url: str, name: str) -> Iterator[str]:
    """A new migrated database (its SQLAlchemy URL) for the length of the block, dropped after."""
    url = create_migrated_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_prefix(redis_url: str, prefix: str) -> None:
    """Remove every key under a namespace (SCAN, batched: test and benchmark clean-up only)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    except redis.RedisError:
        pass
    finally:
        client.close()
