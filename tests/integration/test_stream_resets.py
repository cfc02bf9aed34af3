"""Job event streams stay truthful across a Redis restart: clients following over WebSocket and SSE,
reconnecting with their cursor (epoch + seq), end with the stored answer, and are told (`reset`,
or `started` with `restarted`) whenever the log was lost or the attempt changed."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import websocket

from settings import Settings
from tests.clients import TERMINAL, final_attempt_text, open_job_socket, sse_events, wait_job
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import register
from tests.integration.fault_stack import Stack, persistent_redis, private_redis  # noqa: F401 - fixtures
from tests.support import wait_http_ok

pytestmark = pytest.mark.slow


class Follower(threading.Thread):
    """A client that follows one job to its end, reconnecting with its last cursor whenever cut."""

    def __init__(self, base_url: str, job_id: str, token: str, via: str, deadline: float) -> None:
        super().__init__(daemon=True)
        self.base_url, self.job_id, self.token, self.via, self.deadline = base_url, job_id, token, via, deadline
        self.events: list[dict] = []
        self.reconnects = 0

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1]["type"] in TERMINAL

    def cursor(self) -> tuple[int, str | None]:
        last = next((e for e in reversed(self.events) if e["type"] != "reset"), None)
        reset = next((e for e in reversed(self.events) if e["type"] == "reset"), None)
        if last is None:
            return 0, reset["epoch"] if reset else None
        return last["seq"], last["epoch"]

    def run(self) -> None:
        while not self.done and time.time() < self.deadline:
            try:
                self._follow_once()
            except (OSError, websocket.WebSocketException, httpx.HTTPError, AssertionError):
                pass
            if not self.done:
                self.reconnects += 1
                time.sleep(0.3)

    def _follow_once(self) -> None:
        seq, epoch = self.cursor()
        if self.via == "sse":
            sse_events(self.base_url, self.job_id, self.token, f"{epoch}:{seq}" if epoch else seq, timeout=10,
                       into=self.events)
            return
        ws = open_job_socket(self.base_url, self.job_id, self.token, after=seq, epoch=epoch, timeout=10)
        try:
            while not self.done:
                self.events.append(json.loads(ws.recv()))
        finally:
            ws.close()


def _follow(stack: Stack, user: dict, job_ids: list[str]) -> list[Follower]:
    deadline = time.time() + 90
    followers = [Follower(stack.url, j, user["access_token"], via, deadline) for j in job_ids for via in ("ws", "sse")]
    for f in followers:
        f.start()
    return followers


def _submit(api: httpx.Client, user: dict, provider: str, prompt: str) -> str:
    r = api.post("/api/chat", headers=user["headers"], json={"messages": [{"role": "user", "content": prompt}],
                                                            "provider": provider})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _run(settings: Settings, log_dir: Path, fake: FakeLLMServer, redis_url: str, restart, **env: str):
    """A job paused at the vendor across the restart and a demo job streaming through it, each followed
    over WebSocket and SSE; returns (final jobs, followers)."""
    stack = Stack(settings, log_dir, redis_url, OPENAI_API_KEY="sk-fake", OPENAI_BASE_URL=fake.base_url + "/v1",
                  DEMO_TOKENS_PER_SECOND="20", **env)
    try:
        stack.start_web()
        stack.start_worker("stream-reset")
        with httpx.Client(base_url=stack.url, timeout=30) as api:
            user = register(api)
            fake.script([{"pause_after_tokens": 5, "pause": 4}])
            jobs = [_submit(api, user, "openai", "[fake:tokens=30] paused"),
                    _submit(api, user, "demo", "[demo:tokens=120] streaming")]
            followers = _follow(stack, user, jobs)
            assert all(_wait(lambda f=f: len(f.events) >= 4) for f in followers), "followers never started"
            restart()
            wait_http_ok(stack.url + "/readyz", timeout=30)
            finals = [wait_job(api, j, user["headers"], timeout=90) for j in jobs]
        for f in followers:
            f.join(timeout=60)
        return finals, followers
    finally:
        stack.stop()


def _wait(check, timeout: float = 30) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and not check():
        time.sleep(0.05)
    return check()


def _assert_truthful(finals: list[dict], followers: list[Follower]) -> None:
    by_id = {f["id"]: f for f in finals}
    for f in followers:
        job = by_id[f.job_id]
        assert job["status"] == "succeeded", job
        assert f.done, (f.via, f.events[-3:])
        assert final_attempt_text(f.events) == job["result"]["content"], (f.via, f.job_id)


def test_restart_without_persistence_resets_streams(settings: Settings, log_dir: Path, fake_llm, private_redis):
    redis_url, restart = private_redis
    # A long lease: the paused job's attempt survives the outage rather than being taken over.
    finals, followers = _run(settings, log_dir, fake_llm, redis_url, restart, JOB_LEASE_SECONDS="30")
    _assert_truthful(finals, followers)
    for f in followers:
        assert any(e["type"] == "reset" for e in f.events), (f.via, f.job_id)  # the log was lost: told so
        after_reset = f.events[max(i for i, e in enumerate(f.events) if e["type"] == "reset") + 1:]
        seqs = [e["seq"] for e in after_reset]
        assert seqs == list(range(1, len(seqs) + 1))  # the new log replayed whole, gapless
        assert after_reset[0]["type"] == "started"  # resumed (same attempt) or restarted (a new one)


def test_restart_with_aof_loses_nothing(settings: Settings, log_dir: Path, fake_llm, persistent_redis):
    redis_url, restart = persistent_redis
    finals, followers = _run(settings, log_dir, fake_llm, redis_url, restart, JOB_LEASE_SECONDS="30")
    _assert_truthful(finals, followers)
    for f in followers:
        assert not any(e["type"] == "reset" for e in f.events), (f.via, f.job_id)
        seqs = [e["seq"] for e in f.events]
        assert seqs == list(range(1, len(seqs) + 1)), (f.via, seqs)  # resumed exactly: no gap, no repeat
        assert len({e["epoch"] for e in f.events}) == 1
