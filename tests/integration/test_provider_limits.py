"""Provider budgets: the Redis script on its own (with a controlled clock), then whole jobs through
two worker processes against the fake vendor, which counts how many requests it serves at once."""
from __future__ import annotations

import uuid

import httpx
import pytest
import redis as redis_lib

from providers.limits import Budget, BudgetWaitTooLong, ProviderLimiter, budgets_from
from settings import parse_provider_limits
from tests.integration.conftest import register
from tests.integration.private_stack import PrivateStack
from tests.support import delete_redis_prefix, wait_for


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture()
def limiter_factory(redis_url, redis_prefix):
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    prefix = f"{redis_prefix}limits-{uuid.uuid4().hex[:8]}"
    clock = Clock()

    def make(budget: Budget, lease: int = 30, max_wait: float = 5) -> ProviderLimiter:
        return ProviderLimiter(client, prefix, {"vendor": budget}, lease, max_wait, clock_ms=clock)

    yield make, clock
    delete_redis_prefix(redis_url, prefix)
    client.close()


def test_parse_provider_limits():
    assert budgets_from(parse_provider_limits("openai=concurrency:50,rpm:500; anthropic=rpm:20")) == {
        "openai": Budget(50, 500), "anthropic": Budget(0, 20)}
    assert parse_provider_limits("") == {}
    for bad in ("openai", "openai=speed:3", "openai=rpm:x"):
        with pytest.raises(ValueError):
            parse_provider_limits(bad)


def test_requests_per_minute_is_a_sliding_window(limiter_factory):
    make, clock = limiter_factory
    limiter = make(Budget(rpm=3))
    assert all(limiter.try_acquire("vendor")[0] is not None for _ in range(3))
    slot, wait = limiter.try_acquire("vendor")
    assert slot is None and wait == pytest.approx(60, abs=0.01)
    clock.ms += 30_000
    slot, wait = limiter.try_acquire("vendor")
    assert slot is None and wait == pytest.approx(30, abs=0.01)
    clock.ms += 30_001
    assert limiter.try_acquire("vendor")[0] is not None
    assert limiter.try_acquire("vendor")[0] is not None  # the whole first burst left the window
    assert limiter.try_acquire("other")[0] is not None  # no budget configured: unlimited


def test_concurrency_slots_are_released_or_lapse(limiter_factory):
    make, clock = limiter_factory
    limiter = make(Budget(concurrency=2), lease=30)
    first, _ = limiter.try_acquire("vendor")
    second, _ = limiter.try_acquire("vendor")
    assert first is not None and second is not None
    assert limiter.try_acquire("vendor")[0] is None
    first.release()
    third, _ = limiter.try_acquire("vendor")
    assert third is not None
    clock.ms += 20_000
    limiter.renew("vendor", third.token)  # `second` is not renewed: it belongs to a crashed worker
    clock.ms += 15_000
    fourth, _ = limiter.try_acquire("vendor")
    assert fourth is not None  # second's lease lapsed
    assert limiter.try_acquire("vendor")[0] is None  # third's renewal holds


def test_waiting_respects_cancel_and_a_deadline(limiter_factory):
    make, _clock = limiter_factory
    limiter = make(Budget(concurrency=1), max_wait=0.3)
    held, _ = limiter.try_acquire("vendor")
    assert held is not None

    class Cancelled(Exception):
        pass

    with pytest.raises(Cancelled):
        limiter.acquire("vendor", cancelled=lambda: True, cancel_exc=Cancelled)
    with pytest.raises(BudgetWaitTooLong) as info:
        limiter.acquire("vendor", "m", sleep=lambda _s: None)
    assert info.value.code == "rate_limited" and not info.value.retryable


def _job(client: httpx.Client, job_id: str) -> dict:
    return client.get(f"/api/jobs/{job_id}").json()


def test_jobs_never_exceed_the_concurrency_budget_across_workers(stack_env, log_dir, fake_llm, worker):
    with PrivateStack(stack_env, log_dir, workers=2, PROVIDER_LIMITS="openai=concurrency:2,rpm:1000") as stack, \
            httpx.Client(base_url=stack.url, timeout=30) as api:
        u = register(api)
        api.headers.update(u["headers"])
        fake_llm.reset_in_flight()
        ids = []
        for i in range(8):
            r = api.post("/api/chat", json={"provider": "openai", "model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": f"[fake:tokens=40] burst {i}"}]})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        wait_for(lambda: all(_job(api, j)["status"] == "succeeded" for j in ids), timeout=120, interval=0.3,
                 what="the burst to finish")
        assert fake_llm.max_in_flight == 2  # the budget was used to the full, and never exceeded
        for j in ids:
            assert _job(api, j)["result"]["content"].split() == [f"w{k}" for k in range(40)]


def test_a_job_waiting_for_a_slot_can_be_cancelled(stack_env, log_dir, fake_llm, worker):
    with PrivateStack(stack_env, log_dir, workers=1, PROVIDER_LIMITS="openai=concurrency:1") as stack, \
            httpx.Client(base_url=stack.url, timeout=30) as api:
        u = register(api)
        api.headers.update(u["headers"])
        marker = uuid.uuid4().hex
        long = api.post("/api/chat", json={"provider": "openai", "model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "[fake:tokens=2000] long"}]}).json()["id"]
        wait_for(lambda: _job(api, long)["status"] == "running", timeout=30, what="the first job to run")
        waiting = api.post("/api/chat", json={"provider": "openai", "model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": f"waiting {marker}"}]}).json()["id"]
        wait_for(lambda: _job(api, waiting)["status"] == "running", timeout=30, what="the second job to wait")
        assert api.post(f"/api/jobs/{waiting}/cancel").status_code in (200, 202)
        wait_for(lambda: _job(api, waiting)["status"] == "cancelled", timeout=30, what="the cancel")
        assert _job(api, long)["status"] == "running"  # it still held the only slot: the cancel came while waiting
        wait_for(lambda: _job(api, long)["status"] == "succeeded", timeout=60, what="the first job")
        assert not any(marker in str(req["json"]) for req in fake_llm.requests)  # never reached the vendor
