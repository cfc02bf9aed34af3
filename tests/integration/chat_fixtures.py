"""A chat stack for the realtime tests: TWO gunicorn servers and one Celery worker on one database and Redis.

It has its own Redis key prefix (inside the run's namespace), so its queues, presence and
redelivery sweeps are its own, and short intervals so heartbeats and redeliveries happen within
a test. Import the fixtures into a test module to use them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.integration.conftest import register, settings_env
from tests.support import Proc, free_port, gunicorn_argv, stop_all, wait_http_ok, worker_argv

CHAT_LIMITS = {
    "WS_PING_INTERVAL": "1",
    "CHAT_ACK_TIMEOUT": "1.5",
    "CHAT_REDELIVERY_INTERVAL": "0.3",
    "CHAT_REDELIVERY_BACKOFF_MAX": "1.5",
    "CHAT_MAX_DELIVERY_ATTEMPTS": "3",
    "CHAT_MESSAGES_PER_SECOND": "40",
    "CHAT_ABUSE_FACTOR": "3",
    "CHAT_MAX_CONTENT_CHARS": "2000",
    "CHAT_MAX_BAD_FRAMES": "5",
    "CHAT_SEND_BUFFER": "30",
    "WS_SOCKET_SEND_BUFFER": "16384",
    "WS_MAX_FRAME_BYTES": "8192",
    # the jobs reconciler of this worker must leave the other tests' jobs alone (same database)
    "RECONCILE_INTERVAL": "100000",
}


@dataclass
class ChatStack:
    a: str  # base URL of web process A
    b: str  # base URL of web process B
    web_a: Proc
    web_b: Proc
    worker: Proc
    env: dict[str, str]
    log_dir: Path

    def restart_worker(self) -> None:
        self.worker.start()

    def user(self) -> dict:
        with httpx.Client(base_url=self.a, timeout=30) as api:
            return register(api)


@pytest.fixture(scope="session")
def chat_env(settings, redis_prefix) -> dict[str, str]:
    return settings_env(settings, REDIS_KEY_PREFIX=redis_prefix + "chat:", WS_ALLOWED_ORIGINS="http://allowed.example",
                        **CHAT_LIMITS)


@pytest.fixture(scope="session")
def chat_stack(chat_env: dict[str, str], log_dir: Path) -> Iterator[ChatStack]:
    procs: list[Proc] = []
    try:
        urls = []
        for name in ("chat-web-a", "chat-web-b"):
            port = free_port()
            proc = Proc(name, gunicorn_argv(port, workers=1), chat_env, log_dir).start()
            procs.append(proc)
            urls.append(f"http://127.0.0.1:{port}")
        worker = Proc("chat-worker", worker_argv(concurrency=20, hostname="chat"), chat_env, log_dir).start()
        procs.append(worker)
        for url, proc in zip(urls, procs):
            wait_http_ok(url + "/readyz", proc)
        yield ChatStack(urls[0], urls[1], procs[0], procs[1], worker, chat_env, log_dir)
    finally:
        stop_all(procs)
