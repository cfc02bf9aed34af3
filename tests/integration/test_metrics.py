"""`/metrics` scraped from a stack of its own (2 gunicorn workers, 2 Celery worker processes, one
metrics directory) after a known set of requests and jobs: every count must match exactly."""
from __future__ import annotations

import uuid

import httpx
import pytest
import websocket
from prometheus_client.parser import text_string_to_metric_families

from tests.clients import open_job_socket, ws_url
from tests.integration.conftest import register
from tests.integration.private_stack import PrivateStack
from tests.support import free_port, wait_for

WORKER_METRICS_PORT = free_port()


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple], float]:
    r = httpx.get(url + "/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    samples: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def fresh(url: str, method: str, path: str, **kwargs) -> httpx.Response:
    """One request on a new connection, so requests spread over the gunicorn workers."""
    with httpx.Client(base_url=url, timeout=30) as client:
        return client.request(method, path, **kwargs)


@pytest.fixture(scope="module")
def stack(stack_env, log_dir, worker):
    with PrivateStack(stack_env, log_dir, web_workers=2, workers=2, start_workers=False,
                      WORKER_METRICS_PORT=str(WORKER_METRICS_PORT)) as s:
        yield s


def test_http_jobs_tokens_retries_and_queue_depth_are_counted_exactly(stack, fake_llm):
    url = stack.url
    u = register(httpx.Client(base_url=url, timeout=30))
    auth = u["headers"]
    for _ in range(5):
        assert fresh(url, "GET", "/healthz").status_code == 200
    for _ in range(3):
        assert fresh(url, "GET", f"/api/conversations/{uuid.uuid4().hex}", headers=auth).status_code == 404
    for _ in range(2):
        assert fresh(url, "GET", f"/no/such/{uuid.uuid4().hex}").status_code == 404
    assert fresh(url, "POST", "/api/chat", headers=auth, json={"messages": "nope"}).status_code == 422

    ids = []
    for i in range(4):
        r = fresh(url, "POST", "/api/chat", headers=auth, json={"provider": "openai", "model": "gpt-4o-mini",
                                                                  "messages": [{"role": "user", "content":
                                                                                f"[fake:tokens={5 + i}] m{i}"}]})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    before = scrape(url)
    assert value(before, "celery_queue_length", queue="completions") == 4  # no worker yet: all four wait
    assert value(before, "jobs_total", provider="openai", model="gpt-4o-mini", status="succeeded") == 0

    fake_llm.script([{"status": 429, "retry_after": 0}])  # the first vendor call is refused once, then retried
    stack.start_workers()
    polls = 0

    def poll(job_id: str) -> dict:
        nonlocal polls
        polls += 1
        return fresh(url, "GET", f"/api/jobs/{job_id}", headers=auth).json()

    wait_for(lambda: all(poll(j)["status"] == "succeeded" for j in ids), timeout=90, interval=0.3, what="the jobs")
    jobs = [poll(j) for j in ids]

    m = scrape(url)
    labels = {"provider": "openai", "model": "gpt-4o-mini"}
    assert value(m, "jobs_total", status="succeeded", **labels) == 4
    assert value(m, "job_queue_wait_seconds_count", **labels) == 4
    assert value(m, "job_time_to_first_token_seconds_count", **labels) == 4
    assert value(m, "job_run_seconds_count", status="succeeded", **labels) == 4
    assert value(m, "llm_tokens_total", direction="out", **labels) == sum(
        j["result"]["usage"]["output_tokens"] for j in jobs) == 5 + 6 + 7 + 8
    assert value(m, "llm_tokens_total", direction="in", **labels) == sum(
        j["result"]["usage"]["input_tokens"] for j in jobs)
    assert value(m, "provider_retries_total", provider="openai", error="rate_limited") == 1
    assert value(m, "provider_errors_total", provider="openai", error="rate_limited") == 1
    assert value(m, "celery_queue_length", queue="completions") == 0

    def http(method: str, route: str, status: int) -> float:
        return value(m, "http_requests_total", method=method, route=route, status=str(status))

    assert http("GET", "/healthz", 200) == 5
    assert http("GET", "/api/conversations/<conversation_id>", 404) == 3
    assert http("GET", "<unmatched>", 404) == 2
    assert http("POST", "/api/chat", 422) == 1
    assert http("POST", "/api/chat", 202) == 4
    assert http("POST", "/api/auth/register", 201) == 1
    assert value(m, "http_request_duration_seconds_count", method="GET", route="/healthz", status="200") == 5
    assert http("GET", "/api/jobs/<job_id>", 200) == polls
    # Route templates only: no raw path (with its ids) ever becomes a label value.
    routes = {dict(k[1]).get("route") for k in m if k[0] == "http_requests_total"}
    assert not any(j in str(routes) for j in ids)
    assert all(r == "<unmatched>" or "/no/such" not in r for r in routes)
    assert "/metrics" not in routes


def test_a_worker_serves_the_same_figures_for_hosts_without_a_web_process(stack):
    worker_url = f"http://127.0.0.1:{WORKER_METRICS_PORT}"
    wait_for(lambda: _answers(worker_url), timeout=30, what="the worker's metrics server")
    from_worker = scrape(worker_url)
    from_web = scrape(stack.url)
    assert any(k[0] == "jobs_total" for k in from_web)
    assert from_worker == from_web  # nothing happened between the two scrapes: one host, one set of figures


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/metrics", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_open_websockets_are_summed_over_processes(stack, fake_llm):
    url = stack.url
    with httpx.Client(base_url=url, timeout=30) as api:
        u = register(api)
        r = api.post("/api/chat", headers=u["headers"], json={"provider": "openai", "model": "gpt-4o-mini",
                                                              "messages": [{"role": "user",
                                                                            "content": "[fake:tokens=3000] long"}]})
        job_id = r.json()["id"]
        if not stack.workers:
            stack.start_workers()
        sockets = [open_job_socket(url, job_id, u["access_token"]) for _ in range(3)]
        sockets.append(websocket.create_connection(ws_url(url, "/ws"), timeout=30,  # a chat socket counts too
                                                   header=[f"Authorization: Bearer {u['access_token']}"]))
        try:
            for ws in sockets:
                ws.recv()  # the handshake is done and the relay (or the chat socket's replay) is running
            assert value(scrape(url), "websocket_connections") == 4
        finally:
            for ws in sockets:
                ws.close()
        wait_for(lambda: value(scrape(url), "websocket_connections") == 0, timeout=30, what="sockets to close")
        api.post(f"/api/jobs/{job_id}/cancel", headers=u["headers"])


def test_metrics_token_when_configured(stack_env, log_dir):
    with PrivateStack(stack_env, log_dir, web_workers=1, workers=0, METRICS_TOKEN="scrape-secret-123") as s:
        r = httpx.get(s.url + "/metrics")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert httpx.get(s.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert scrape(s.url, Authorization="Bearer scrape-secret-123") is not None
