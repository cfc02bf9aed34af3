"""Rate limits against a stack with tight limits: two gunicorn servers of two workers each share
one Redis namespace, and clients hit them from several threads; the counts must be exact.

TRUSTED_PROXIES=1 lets each test speak from an IP of its own through `X-Forwarded-For`.
"""
from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.conftest import STRONG_PASSWORD
from tests.integration.private_stack import PrivateStack

CHAT = {"messages": [{"role": "user", "content": "[demo:tokens=1] hi"}], "provider": "demo"}
_ips = (f"203.0.113.{i}" for i in itertools.count(1))


@pytest.fixture(scope="module")
def stack(stack_env, log_dir, worker):
    with PrivateStack(stack_env, log_dir, web_servers=2, web_workers=2, workers=1,
                      RATELIMIT_CHAT="10/minute", RATELIMIT_LOGIN_IP="8/minute", RATELIMIT_LOGIN_ACCOUNT="3/minute",
                      RATELIMIT_REGISTER_IP="4/minute", RATELIMIT_DEFAULT="30/minute", TRUSTED_PROXIES="1") as s:
        yield s


def _burst(stack: PrivateStack, n: int, method: str, path: str, threads: int = 6, **kwargs) -> list[httpx.Response]:
    """n requests spread over both servers from several threads, each on a fresh connection."""
    def one(i: int) -> httpx.Response:
        with httpx.Client(base_url=stack.urls[i % len(stack.urls)], timeout=30) as client:
            return client.request(method, path, **kwargs)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(n)))


def _register(stack: PrivateStack, ip: str) -> dict:
    name = f"r{uuid.uuid4().hex[:12]}"
    r = httpx.post(stack.url + "/api/auth/register", headers={"X-Forwarded-For": ip},
                   json={"username": name, "email": f"{name}@example.com", "password": STRONG_PASSWORD})
    assert r.status_code == 201, r.text
    return {"name": name, "headers": {"Authorization": f"Bearer {r.json()['access_token']}"}}


def _assert_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    body = r.json()["error"]
    assert body["code"] == "rate_limited" and body["requestId"]
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["X-RateLimit-Limit"] == str(limit)
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert int(r.headers["X-RateLimit-Reset"]) > 0


def test_chat_submissions_are_limited_per_user_across_processes(stack):
    ip = next(_ips)
    u = _register(stack, ip)
    answers = _burst(stack, 15, "POST", "/api/chat", json=CHAT, headers={**u["headers"], "X-Forwarded-For": ip})
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [202] * 10 + [429] * 5
    _assert_limited(next(r for r in answers if r.status_code == 429), 10)
    ok = next(r for r in answers if r.status_code == 202)
    assert ok.headers["X-RateLimit-Limit"] == "10"
    # Only a refusal says when to come back: a client polling an accepted job must not wait a minute.
    assert all("Retry-After" not in r.headers for r in answers if r.status_code == 202)

    # One budget for every way of submitting chat work.
    r = httpx.post(stack.urls[1] + "/api/chat/ai", json=CHAT, headers=u["headers"])
    _assert_limited(r, 10)
    r = httpx.post(stack.url + "/api/batches", json={"requests": [{"custom_id": "a", "body": CHAT}]},
                   headers=u["headers"])
    _assert_limited(r, 10)

    # The limit is the user's, not the IP's: somebody else from the same address still gets through.
    other = _register(stack, ip)
    r = httpx.post(stack.url + "/api/chat", json=CHAT, headers={**other["headers"], "X-Forwarded-For": ip})
    assert r.status_code == 202, r.text


def test_login_is_limited_per_account_whatever_the_ip(stack):
    u = _register(stack, next(_ips))
    body = {"username": u["name"], "password": "Wr0ng!password"}
    answers = [httpx.post(stack.urls[i % 2] + "/api/auth/login", json=body, headers={"X-Forwarded-For": next(_ips)})
               for i in range(4)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    _assert_limited(answers[-1], 3)
    # Even the right password is refused while the account's window is full.
    r = httpx.post(stack.url + "/api/auth/login", json={"username": u["name"], "password": STRONG_PASSWORD},
                   headers={"X-Forwarded-For": next(_ips)})
    assert r.status_code == 429


def test_login_is_limited_per_ip(stack):
    ip = next(_ips)
    answers = _burst(stack, 11, "POST", "/api/auth/login", headers={"X-Forwarded-For": ip},
                     json={"username": "nobody", "password": "Wr0ng!password"})
    # Same account name for all: the account limit (3) bites first, and the IP limit counts them all.
    assert sorted(r.status_code for r in answers) == [401] * 3 + [429] * 8
    ip = next(_ips)
    answers = [httpx.post(stack.urls[i % 2] + "/api/auth/login", headers={"X-Forwarded-For": ip},
                          json={"username": f"nobody{i}", "password": "Wr0ng!password"}) for i in range(9)]
    assert [r.status_code for r in answers] == [401] * 8 + [429]
    _assert_limited(answers[-1], 8)


def test_registration_is_limited_per_ip(stack):
    ip = next(_ips)

    def body() -> dict:
        name = f"g{uuid.uuid4().hex[:12]}"
        return {"username": name, "email": f"{name}@example.com", "password": STRONG_PASSWORD}

    answers = [httpx.post(stack.urls[i % 2] + "/api/auth/register", json=body(), headers={"X-Forwarded-For": ip})
               for i in range(5)]
    assert [r.status_code for r in answers] == [201] * 4 + [429]
    _assert_limited(answers[-1], 4)
    r = httpx.post(stack.url + "/api/auth/register", json=body(), headers={"X-Forwarded-For": next(_ips)})
    assert r.status_code == 201


def test_global_limit_per_user_and_exempt_routes(stack):
    u = _register(stack, next(_ips))
    answers = _burst(stack, 34, "GET", "/api/conversations", headers=u["headers"])
    assert sorted(r.status_code for r in answers) == [200] * 30 + [429] * 4
    assert all("Retry-After" not in r.headers for r in answers if r.status_code == 200)
    _assert_limited(next(r for r in answers if r.status_code == 429), 30)
    ip = next(_ips)
    for path in ("/healthz", "/readyz", "/metrics"):
        answers = _burst(stack, 35, "GET", path, headers={"X-Forwarded-For": ip})
        assert {r.status_code for r in answers} == {200}, path
        assert "X-RateLimit-Limit" not in answers[0].headers


def test_limits_fail_open_while_redis_is_down(stack_env, log_dir):
    import shutil

    from scripts.run_stack import start_private_redis

    redis_proc, redis_url, workdir = start_private_redis()
    try:
        with PrivateStack(stack_env, log_dir, web_workers=1, workers=0, REDIS_URL=redis_url,
                          RATELIMIT_LOGIN_IP="2/minute", RATELIMIT_LOGIN_ACCOUNT="2/minute") as s:
            body = {"username": "nobody-at-all", "password": "Wr0ng!password"}
            assert [httpx.post(s.url + "/api/auth/login", json=body).status_code for _ in range(3)] == [401, 401, 429]
            redis_proc.terminate()
            redis_proc.wait(10)
            # The limiter's store is gone: logins (which need only the database) still get their answer.
            answers = [httpx.post(s.url + "/api/auth/login", json=body) for _ in range(3)]
            assert [r.status_code for r in answers] == [401, 401, 401], [r.text for r in answers]
            assert "Failed to rate limit" in s.logs()
    finally:
        if redis_proc.poll() is None:
            redis_proc.terminate()
            redis_proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
