"""A fresh chat task opens its vendor call while the worker claims the job: the vendor's wait
overlaps the claim, and nothing of that call reaches the job unless the claim succeeds for the
very request that was sent.

Each test makes a queued job row and delivers its task itself, with the row locked by the test
where the claim has to wait, so what happens before the claim can be seen from outside.
"""
from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text

from models import now_ms
from tests.clients import assert_gapless, wait_job, ws_events
from tests.support import wait_for

pytestmark = pytest.mark.usefixtures("worker")


def queued_job(app, user: dict, content: str) -> tuple[str, dict]:
    from models import Job
    from models.db import db
    from services.chat import chat_payload

    with app.app_context():
        payload = chat_payload("openai", "gpt-4o-mini", [{"role": "user", "content": content}], system=None,
                               temperature=0.7, max_tokens=1000)
        job = Job(user_id=user["user"]["id"], kind="chat", status="queued", payload=payload)
        db.session.add(job)
        db.session.commit()
        return job.id, payload


def deliver(app, job_id: str, user: dict, payload: dict, age_ms: int = 0) -> None:
    from services.queue import RUN_COMPLETION, send

    with app.app_context():
        send(RUN_COMPLETION, job_id, {"user_id": user["user"]["id"], "payload": payload, "sent_at": now_ms() - age_ms})


@contextmanager
def row_locked(database_url: str, job_id: str) -> Iterator:
    """Hold the job row's lock (the claim waits for it) on a connection of the test's own."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            with conn.begin():
                conn.execute(text("SELECT 1 FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
                yield conn
    finally:
        engine.dispose()


def claims_waiting(app) -> bool:
    """Whether a statement on the jobs table waits for a lock (the one this test holds)."""
    from models.db import db

    with app.app_context():
        try:
            return bool(db.session.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%jobs%'")).scalar())
        finally:
            db.session.remove()


def vendor_calls(fake_llm, marker: str) -> int:
    return sum(marker in json.dumps(r["json"]) for r in list(fake_llm.requests))


def test_the_vendor_call_is_under_way_while_the_claim_waits(app, api, user, live_server, fake_llm, database_url):
    marker = uuid.uuid4().hex
    job_id, payload = queued_job(app, user, f"[fake:tokens=5] early {marker}")
    with row_locked(database_url, job_id):
        deliver(app, job_id, user, payload)
        wait_for(lambda: vendor_calls(fake_llm, marker) == 1, timeout=15, what="the vendor call before the claim")
        still = api.get(f"/api/jobs/{job_id}", headers=user["headers"]).json()
        assert still["status"] == "queued" and still["attempts"] == 0
    events = ws_events(live_server, job_id, user["access_token"])
    assert_gapless(events)
    assert [e["restarted"] for e in events if e["type"] == "started"] == [False]
    done = wait_job(api, job_id, user["headers"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["result"]["content"] == "w0 w1 w2 w3 w4 "
    assert vendor_calls(fake_llm, marker) == 1  # the early call was the job's only one


def test_a_job_cancelled_before_its_claim_gets_nothing_of_the_early_call(app, api, user, live_server, fake_llm,
                                                                          database_url):
    marker = uuid.uuid4().hex
    job_id, payload = queued_job(app, user, f"[fake:tokens=2000] cancelled {marker}")
    cut_before = fake_llm.disconnects
    with row_locked(database_url, job_id) as conn:
        deliver(app, job_id, user, payload)
        wait_for(lambda: vendor_calls(fake_llm, marker) == 1, timeout=15, what="the vendor call before the claim")
        conn.execute(text("UPDATE jobs SET cancel_requested = true WHERE id = :id"), {"id": job_id})
    events = ws_events(live_server, job_id, user["access_token"])
    assert [e["type"] for e in events] == ["cancelled"]
    done = wait_job(api, job_id, user["headers"])
    assert done["status"] == "cancelled" and done["attempts"] == 0 and done["result"] is None
    wait_for(lambda: fake_llm.disconnects > cut_before, timeout=15, what="the early call cut")


def test_an_early_call_for_another_request_than_the_row_is_not_used(app, api, user, fake_llm):
    marker = uuid.uuid4().hex
    job_id, payload = queued_job(app, user, f"[fake:tokens=5] row {marker}")
    other = {**payload, "messages": [{"role": "user", "content": f"[fake:tokens=3] other {marker}"}]}
    deliver(app, job_id, user, other)
    done = wait_job(api, job_id, user["headers"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["result"]["content"] == "w0 w1 w2 w3 w4 "
    assert vendor_calls(fake_llm, f"other {marker}") == 1 and vendor_calls(fake_llm, f"row {marker}") == 1


def test_a_task_that_waited_is_not_sent_before_its_claim(app, api, user, fake_llm, database_url):
    marker = uuid.uuid4().hex
    job_id, payload = queued_job(app, user, f"[fake:tokens=3] waited {marker}")
    with row_locked(database_url, job_id):
        deliver(app, job_id, user, payload, age_ms=60_000)  # older than JOB_EARLY_START_WITHIN (1 s)
        wait_for(lambda: claims_waiting(app), timeout=15, what="the claim waiting for the row")
        time.sleep(0.5)
        assert vendor_calls(fake_llm, marker) == 0
    done = wait_job(api, job_id, user["headers"])
    assert done["status"] == "succeeded" and done["result"]["content"] == "w0 w1 w2 "
    assert vendor_calls(fake_llm, marker) == 1
