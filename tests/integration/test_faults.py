"""Fault injection against a private stack: a worker killed mid-stream, Redis restarted mid-run.

Each test runs its own web server, workers and (for the Redis test) its own redis-server, under a
Redis namespace of its own, so killing things here touches nothing else.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import redis
from sqlalchemy import func, select

from models import Message
from scripts.run_stack import redis_binary
from settings import Settings
from tests.clients import (
    assert_gapless,
    final_attempt_text,
    open_job_socket,
    read_ws_events,
    wait_job,
)
from tests.integration.conftest import register, settings_env
from tests.support import (
    Proc,
    delete_redis_prefix,
    free_port,
    gunicorn_argv,
    wait_for,
    wait_http_ok,
    worker_argv,
)

pytestmark = pytest.mark.slow

FAST_RECOVERY = dict(JOB_LEASE_SECONDS="3", RECONCILE_INTERVAL="1", RECONCILE_QUEUED_AFTER="3",
                     DEMO_TOKENS_PER_SECOND="100")


class Stack:
    def __init__(self, settings: Settings, log_dir: Path, redis_url: str) -> None:
        self.prefix = f"fault-{uuid.uuid4().hex[:8]}:"
        self.env = settings_env(settings, REDIS_URL=redis_url, REDIS_KEY_PREFIX=self.prefix, **FAST_RECOVERY)
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
        for proc in reversed(self.procs):
            proc.stop()
        delete_redis_prefix(self.redis_url, self.prefix)


@pytest.fixture()
def stack(settings: Settings, log_dir: Path) -> Iterator[Stack]:
    s = Stack(settings, log_dir, settings.redis_url)
    try:
        yield s
    finally:
        s.stop()


def test_worker_killed_mid_stream_job_ends_succeeded_exactly_once(stack: Stack, app):
    stack.start_web()
    first = stack.start_worker("first")
    with httpx.Client(base_url=stack.url, timeout=30) as api:
        user = register(api)
        conv = api.post("/api/conversations", json={"title": "crash"}, headers=user["headers"]).json()
        job = api.post("/api/chat", headers=user["headers"], json={
            "messages": [{"role": "user", "content": "[demo:tokens=300] survive"}], "provider": "demo",
            "conversationId": conv["id"]}).json()
        ws = open_job_socket(stack.url, job["id"], user["access_token"], timeout=60)
        events = read_ws_events(ws, limit=20)
        assert events[-1]["type"] == "token"
        first.kill9()
        stack.start_worker("second")
        events += read_ws_events(ws)
        ws.close()
        done = wait_job(api, job["id"], user["headers"], timeout=60)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert_gapless(events)
    starts = [e for e in events if e["type"] == "started"]
    assert [(e["attempt"], e["restarted"]) for e in starts] == [(1, False), (2, True)]
    # no token of attempt 1 after attempt 2 started: the stream never interleaves attempts
    restart_at = events.index(starts[1])
    assert all(e["attempt"] == 2 for e in events[restart_at:])
    assert final_attempt_text(events) == done["result"]["content"]
    assert len(done["result"]["content"].split()) == 300
    with app.app_context():
        from models.db import db

        answers = db.session.scalar(select(func.count()).select_from(Message).where(Message.job_id == job["id"]))
    assert answers == 1


@pytest.fixture()
def private_redis() -> Iterator[tuple[str, callable]]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="fault-redis-")
    argv = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", workdir]
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


def test_redis_restart_mid_run_queued_jobs_finish(settings: Settings, log_dir: Path, private_redis):
    redis_url, restart_redis = private_redis
    stack = Stack(settings, log_dir, redis_url)
    try:
        stack.start_web()
        stack.start_worker("redis-restart")
        with httpx.Client(base_url=stack.url, timeout=30) as api:
            user = register(api)

            def submit(n: int) -> str:
                return api.post("/api/chat", headers=user["headers"], json={
                    "messages": [{"role": "user", "content": f"[demo:tokens={n}] r"}], "provider": "demo"}).json()["id"]

            warm = submit(5)
            assert wait_job(api, warm, user["headers"])["status"] == "succeeded"
            jobs = [submit(100) for _ in range(30)]  # more than the worker runs at once: some stay queued
            time.sleep(0.3)
            restart_redis()  # Redis keeps nothing: queued messages, leases and event logs are gone
            wait_http_ok(stack.url + "/readyz", timeout=30)
            user["headers"] = {"Authorization": f"Bearer {user['access_token']}"}
            finals = [wait_job(api, j, user["headers"], timeout=90) for j in jobs]
            after = submit(5)
            assert wait_job(api, after, user["headers"], timeout=60)["status"] == "succeeded"
        assert [f["status"] for f in finals] == ["succeeded"] * len(jobs)
        assert all(len(f["result"]["content"].split()) == 100 for f in finals)
    finally:
        stack.stop()
