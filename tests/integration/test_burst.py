"""A burst of submissions at the Procfile's default worker concurrency: every job is accepted, runs
once and is never taken over, and no process runs out of Redis or PostgreSQL connections.

Counts, not timings: 300 `POST /api/chat` at once against two gunicorn processes and one Celery
worker with `-c <Procfile default>`; each job streams long enough that the worker holds a
couple of hundred of them at the same moment.
"""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from settings import Settings
from tests.clients import assert_gapless, sse_events
from tests.integration.conftest import register
from tests.integration.private_stack import PrivateStack

ROOT = Path(__file__).resolve().parents[2]
BURST = 300
TOKENS = 20  # at 10 tokens/s: each job runs ~2 s, so the worker's slots fill up at once


def procfile_concurrency() -> int:
    m = re.search(r"CELERY_CONCURRENCY:-(\d+)", (ROOT / "Procfile").read_text())
    assert m, "the Procfile's worker line names no default concurrency"
    return int(m.group(1))


def _submit_all(url: str, headers: dict) -> list[httpx.Response]:
    body = {"provider": "demo", "messages": [{"role": "user", "content": f"[demo:tokens={TOKENS}] burst"}]}

    def one(_i: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            return client.post("/api/chat", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=100) as pool:
        return list(pool.map(one, range(BURST)))


def _wait_all_finished(api: httpx.Client, headers: dict, timeout: float = 180) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        jobs = api.get("/api/jobs", params={"page_size": 100, "page": 1}, headers=headers).json()
        total = jobs["total"]
        unfinished = api.get("/api/jobs", params={"status": "running", "page_size": 1}, headers=headers).json()
        queued = api.get("/api/jobs", params={"status": "queued", "page_size": 1}, headers=headers).json()
        if total >= BURST and unfinished["total"] == 0 and queued["total"] == 0:
            break
        assert time.time() < deadline, f"{unfinished['total']} running, {queued['total']} queued after {timeout}s"
        time.sleep(1)
    found: list[dict] = []
    for page in range(1, BURST // 100 + 2):
        found += api.get("/api/jobs", params={"page_size": 100, "page": page}, headers=headers).json()["jobs"]
    return found


def test_burst_at_procfile_concurrency_runs_every_job_once(stack_env, log_dir):
    defaults = Settings()  # the production pool sizes, not the small ones of the other test stacks
    with PrivateStack(stack_env, log_dir, web_workers=2, worker_concurrency=procfile_concurrency(),
                      DEMO_TOKENS_PER_SECOND="10", DB_POOL_SIZE=str(defaults.db_pool_size),
                      DB_MAX_OVERFLOW=str(defaults.db_max_overflow)) as stack, httpx.Client(base_url=stack.url, timeout=30) as api:
        user = register(api)
        answers = _submit_all(stack.url, user["headers"])
        statuses = [r.status_code for r in answers]
        assert statuses.count(202) == BURST, {s: statuses.count(s) for s in set(statuses)}

        jobs = _wait_all_finished(api, user["headers"])
        assert len(jobs) == BURST
        assert sorted({j["status"] for j in jobs}) == ["succeeded"]
        assert [j["id"] for j in jobs if j["attempts"] != 1] == []

        for job in jobs[:: BURST // 30]:  # the streams themselves: one start, no restart, every token
            events = sse_events(stack.url, job["id"], user["access_token"])
            assert_gapless(events)
            assert [e["type"] for e in events].count("started") == 1
            assert not any(e.get("restarted") for e in events)
            assert sum(e["type"] == "token" for e in events) == TOKENS

        logs = stack.logs()
        assert "Too many connections" not in logs
        assert "too many clients" not in logs.lower()
        assert "No connection available" not in logs
        assert "Couldn't ack" not in logs
