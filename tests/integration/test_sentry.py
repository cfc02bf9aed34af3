"""Sentry: a stack reporting to a local fake ingest. Real unhandled errors are provoked by a
database that refuses every UPDATE of a job (a trigger): the worker's claim fails inside the
task, and a cancel fails inside the route. 404 and 422 answers must not be reported."""
from __future__ import annotations

import uuid

import httpx
import pytest
from celery.exceptions import Retry

from error_reporting import before_send
from providers.errors import RateLimitError
from settings import Settings
from tests.fakes.sentry_server import FakeSentry
from tests.integration.conftest import register
from tests.integration.private_stack import PrivateStack
from tests.support import admin_exec, migrated_database, wait_for
from web.errors import ApiError

REFUSE_JOB_UPDATES = """
CREATE FUNCTION refuse_job_update() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'jobs are read-only in this test'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_job_update BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_job_update();
"""


@pytest.fixture()
def broken_database(pg_admin_url):
    from sqlalchemy.engine import make_url

    with migrated_database(pg_admin_url, f"chat_test_sentry_{uuid.uuid4().hex[:8]}") as url:
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        admin_exec(plain, REFUSE_JOB_UPDATES)
        yield url


def _exception_values(event: dict) -> str:
    return " ".join(f"{v.get('type')}: {v.get('value')}" for v in (event.get("exception") or {}).get("values", []))


def test_unhandled_errors_of_routes_and_tasks_arrive_and_4xx_do_not(stack_env, log_dir, broken_database):
    with FakeSentry() as sentry, PrivateStack(stack_env, log_dir, web_workers=1, workers=1,
                                              DATABASE_URL=broken_database, SENTRY_DSN=sentry.dsn,
                                              SENTRY_RELEASE="chat-studio@test-1") as stack, \
            httpx.Client(base_url=stack.url, timeout=30) as api:
        u = register(api)
        h = u["headers"]
        missing = f"/api/conversations/{uuid.uuid4().hex}"
        assert api.get(missing, headers=h).status_code == 404
        assert api.post("/api/conversations", headers=h, json={"title": 5}).status_code == 422
        assert api.get(f"/no/such/{uuid.uuid4().hex}").status_code == 404

        r = api.post("/api/chat", headers=h, json={"provider": "demo", "messages": [
            {"role": "user", "content": "[demo:tokens=2] hi"}]})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        # The worker's claim (an UPDATE) raises inside the task.
        task_event = wait_for(lambda: next((e for e in sentry.events() if "read-only" in _exception_values(e)
                                            and e.get("transaction") == "tasks.completions.run_completion"), None),
                              timeout=60, interval=0.3, what="the task's error in Sentry")
        assert task_event["release"] == "chat-studio@test-1"
        assert task_event["environment"] == "test"

        r = api.post(f"/api/jobs/{job_id}/cancel", headers=h)
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert "read-only" not in r.text  # no detail of the failure to the client
        route_event = wait_for(lambda: next((e for e in sentry.events() if "read-only" in _exception_values(e)
                                             and (e.get("request") or {}).get("url", "").endswith("/cancel")),
                                            None), timeout=30, interval=0.3, what="the route's error in Sentry")
        assert route_event["release"] == "chat-studio@test-1"
        assert u["access_token"] not in str(sentry.events())  # the SDK filters credentials out

        urls = [(e.get("request") or {}).get("url", "") for e in sentry.events()]
        assert not any("/api/conversations" in url or "/no/such/" in url for url in urls), urls


def test_expected_errors_are_dropped_before_sending():
    event = {"message": "x"}
    for exc in (ApiError(404, "nope"), ApiError(422, "bad"), RateLimitError("slow down", provider="openai"),
                Retry()):
        assert before_send(event, {"exc_info": (type(exc), exc, None)}) is None
    boom = RuntimeError("boom")
    assert before_send(event, {"exc_info": (RuntimeError, boom, None)}) is event
    assert before_send(event, {"exc_info": (ApiError, ApiError(500, "x"), None)}) is event
    assert before_send(event, {}) is event


def test_nothing_is_initialised_without_a_dsn(settings):
    from error_reporting import init_sentry

    assert settings.sentry_dsn == ""
    assert init_sentry(settings, "0") is False
    assert init_sentry(Settings(environment="test", sentry_dsn=""), "0") is False
