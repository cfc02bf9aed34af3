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
from tests.integration.fault_stack import Stack, private_redis  # noqa: F401 - fixture
from tests.support import (
    Proc,
    delete_redis_prefix,
    free_port,
    gunicorn_argv,
    wait_for,
    wait_http_ok,
)

pytestmark = pytest.mark.slow

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
