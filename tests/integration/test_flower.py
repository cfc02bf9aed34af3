"""Flower as the Procfile runs it (`--conf=flowerconfig.py`), on the test broker: behind basic
auth, it lists the worker and, with task events on, the tasks it ran."""
from __future__ import annotations

import httpx

from tests.integration.conftest import register
from tests.support import BIN, Proc, free_port, wait_for


def test_flower_shows_workers_and_tasks_behind_basic_auth(stack_env, log_dir, worker, api):
    port = free_port()
    env = {**stack_env, "FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": "ops:flower-Secret-1"}
    flower = Proc("flower", [str(BIN / "celery"), "-A", "worker", "flower", "--conf=flowerconfig.py",
                             "--address=127.0.0.1"], env, log_dir).start()
    base = f"http://127.0.0.1:{port}"
    auth = ("ops", "flower-Secret-1")
    try:
        def up() -> bool:
            if not flower.alive():
                raise AssertionError("flower exited:\n" + flower.log_tail())
            try:
                return httpx.get(base + "/healthcheck", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=60, interval=0.3, what="flower")
        assert httpx.get(base + "/api/workers", timeout=10).status_code == 401
        assert httpx.get(base + "/api/workers", auth=("ops", "wrong"), timeout=10).status_code == 401

        workers = wait_for(lambda: httpx.get(base + "/api/workers", auth=auth, timeout=30).json() or None,
                           timeout=60, interval=0.5, what="flower to see the worker")
        assert any(name.startswith("test@") for name in workers), workers

        u = register(api)
        r = api.post("/api/chat", headers=u["headers"], json={
            "provider": "demo", "messages": [{"role": "user", "content": "[demo:tokens=2] hello flower"}]})
        assert r.status_code == 202
        job_id = r.json()["id"]

        def task_seen() -> dict | None:
            tasks = httpx.get(base + "/api/tasks", auth=auth, timeout=10).json()
            return next((t for t in tasks.values() if t.get("name") == "tasks.completions.run_completion"
                         and job_id in str(t.get("args")) and t.get("state") == "SUCCESS"), None)

        task = wait_for(task_seen, timeout=60, interval=0.5, what="flower to record the task")
        assert task["worker"].startswith("test@")
        # The task carries the job's request for an early start; operators see the job id, not the prompt.
        assert "hello flower" not in str(task) and "…" in str(task.get("args"))
    finally:
        flower.stop()
