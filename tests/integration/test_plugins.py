"""Plugins on a real stack: hooks run in the worker after commit, never in the request or the job.

A second web server and worker run with `PLUGINS` naming test plugins (one raises, one sleeps,
one hangs) and the analytics plugin, plus one plugin enabled through an entry point.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from tests.clients import wait_job
from tests.integration.conftest import Stack, register, stack_with
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("worker")
SLEEP = 3
FAILING = "tests.plugin_fixtures:FailingPlugin"
SLEEPING = "tests.plugin_fixtures:SleepingPlugin"
HANGING = "tests.plugin_fixtures:HangingPlugin"
ANALYTICS = "plugins.analytics:AnalyticsPlugin"


def entry_point_dir(root: Path) -> Path:
    """A minimal installed distribution declaring a plugin under the `chat_studio.plugins` group."""
    dist = root / "chat_studio_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: chat-studio-test-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[chat_studio.plugins]\nrecorder = tests.plugin_fixtures:RecordingPlugin\n")
    return root


@pytest.fixture(scope="module")
def plugin_stack(stack_env, redis_prefix, log_dir, tmp_path_factory):
    env = stack_with(stack_env, redis_prefix, "plugins", PLUGINS=",".join([FAILING, SLEEPING, HANGING, ANALYTICS]),
                     PLUGIN_TIMEOUT="5", TEST_PLUGIN_SLEEP=str(SLEEP),
                     PYTHONPATH=os.pathsep.join([str(ROOT), str(entry_point_dir(tmp_path_factory.mktemp("ep")))]))
    with Stack("plugins", env, log_dir) as stack:
        yield stack


@pytest.fixture(scope="module")
def r(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def key(stack: Stack, *parts: str) -> str:
    return stack.env["REDIS_KEY_PREFIX"] + ":".join(parts)


def scenario(client: httpx.Client, user: dict, probe=lambda: None) -> tuple[list[httpx.Response], list[float],
                                                                           dict, list]:
    """Create a conversation, add a message, run a chat job in it; returns responses, durations, the job,
    and what `probe()` said as each answer arrived."""
    h = user["headers"]
    probes: list = []

    def timed(fn):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        probes.append(probe())
        return result, elapsed

    conv_id = f"conv_{uuid.uuid4().hex[:12]}"
    created, t1 = timed(lambda: client.post("/api/conversations", headers=h, json={"id": conv_id, "title": "P"}))
    message, t2 = timed(lambda: client.post(f"/api/conversations/{conv_id}/messages", headers=h,
                                            json={"role": "user", "content": "hello plugins"}))
    submitted, t3 = timed(lambda: client.post("/api/chat", headers=h, json={
        "conversationId": conv_id, "messages": [{"role": "user", "content": "[demo:tokens=7] count me"}]}))
    job = wait_job(client, submitted.json()["id"], h)
    return [created, message, submitted], [t1, t2, t3], job, probes


def test_slow_and_failing_plugins_never_touch_requests_or_jobs(plugin_stack, api, r, log_dir):
    with httpx.Client(base_url=plugin_stack.url, timeout=30) as client:
        user = register(client)
        baseline_user = register(api)
        for c in (api, client):  # a process's first submission builds its clients: not what is measured here
            u = register(c)
            warm = c.post("/api/chat", headers=u["headers"], json={"messages": [{"role": "user", "content": "w"}]})
            wait_job(c, warm.json()["id"], u["headers"])
        r.delete(key(plugin_stack, "plugintest", "events"))
        for k in r.keys(key(plugin_stack, "plugintest", "done", "*")):
            r.delete(k)
        _, plain, _, _ = scenario(api, baseline_user)  # the session stack: no plugins
        responses, with_plugins, job, finished_when_answered = scenario(
            client, user, probe=lambda: r.keys(key(plugin_stack, "plugintest", "done", "*")))
        assert [x.status_code for x in responses] == [201, 201, 202]
        assert job["status"] == "succeeded" and job["result"]["content"] == "".join(f"tok{i} " for i in range(7))
        print(f"\nrequest seconds without plugins {[round(t, 3) for t in plain]}, "
              f"with a {SLEEP} s plugin {[round(t, 3) for t in with_plugins]}")
        assert max(with_plugins) < SLEEP  # the sleep is nowhere on the request path
        # as each answer arrived, the sleeping plugin had not finished a single event yet
        assert finished_when_answered == [[], [], []]

        # the sleeping plugin did run, later, for every event (conversation, 3 messages, the job)
        wait_for(lambda: len(r.keys(key(plugin_stack, "plugintest", "done", "*"))) >= 5, timeout=60,
                 what="the sleeping plugin to finish")

        # failures are counted per plugin and hook, and logged by the worker
        failures_key = key(plugin_stack, "plugins", "failures")
        wait_for(lambda: int(r.hget(failures_key, f"{FAILING}|on_job_completed") or 0) >= 1, timeout=30,
                 what="the failing plugin's job hook to be counted")
        counts = r.hgetall(failures_key)
        assert int(counts[f"{FAILING}|on_conversation_created"]) >= 1
        assert int(counts[f"{FAILING}|on_message_sent"]) >= 3
        assert f"{SLEEPING}|on_message_sent" not in counts
        scraped = client.get("/metrics").text  # the same counts, summed over the host's processes
        line = f'chat_plugin_failures_total{{hook="on_message_sent",plugin="{FAILING}"}}'
        assert any(x.startswith(line) and float(x.split()[-1]) >= 3 for x in scraped.splitlines()), scraped[-2000:]
        log = plugin_stack.worker.log_tail(2000)
        assert f"plugin {FAILING} failed in on_conversation_created" in log
        assert "failing plugin: conversation hook" in log
        # the hanging plugin is stopped by PLUGIN_TIMEOUT and counted
        wait_for(lambda: int(r.hget(failures_key, f"{HANGING}|on_job_completed") or 0) >= 1, timeout=30,
                 what="the hanging plugin to time out")
        assert "PLUGIN_TIMEOUT" in plugin_stack.worker.log_tail(2000)

        # the plugin enabled by entry point got plain JSON events with ids, user and timestamps
        def recorded():
            return [json.loads(e) for e in r.lrange(key(plugin_stack, "plugintest", "events"), 0, -1)
                    if json.loads(e)["userId"] == user["user"]["id"]]

        wait_for(lambda: any(e["hook"] == "on_job_completed" for e in recorded()), timeout=30,
                 what="the recording plugin to see the job")
        events = recorded()
        assert sorted(e["hook"] for e in events) == sorted(
            ["on_conversation_created"] + ["on_message_sent"] * 3 + ["on_job_completed"])
        done = next(e for e in events if e["hook"] == "on_job_completed")
        assert done["jobId"] == job["id"] and done["status"] == "succeeded" and done["provider"] == "demo"
        assert done["usage"] == job["result"]["usage"]
        roles = sorted(e["role"] for e in events if e["hook"] == "on_message_sent")
        assert roles == ["assistant", "user", "user"]
        assert all(e["eventId"] and e["occurredAt"] > 0 for e in events)

        # the analytics plugin's numbers match what was sent
        def today():
            return client.get("/api/users/me/analytics?days=1", headers=user["headers"]).json()

        wait_for(lambda: today()["days"][0]["jobs"] == 1, timeout=30, what="analytics to count the job")
        answer = today()
        assert answer["enabled"] is True
        day = answer["days"][0]
        assert day["conversations"] == 1 and day["messages"] == 3 and day["user_messages"] == 2
        assert day["jobs_failed"] == 0
        assert day["output_tokens"] == job["result"]["usage"]["output_tokens"] == 7
        assert day["input_tokens"] == job["result"]["usage"]["input_tokens"]
        # another user's numbers are their own
        other = register(client)
        assert client.get("/api/users/me/analytics", headers=other["headers"]).json()["days"][0]["messages"] == 0


def test_rolled_back_writes_send_no_events(plugin_stack, r):
    with httpx.Client(base_url=plugin_stack.url, timeout=30) as client:
        user = register(client)
        conv_id = f"conv_{uuid.uuid4().hex[:12]}"
        assert client.post("/api/conversations", headers=user["headers"],
                           json={"id": conv_id, "title": "once"}).status_code == 201
        dup = client.post("/api/conversations", headers=user["headers"], json={"id": conv_id, "title": "twice"})
        assert dup.status_code == 409
        wait_for(lambda: client.get("/api/users/me/analytics?days=1",
                                    headers=user["headers"]).json()["days"][0]["conversations"] >= 1, timeout=30,
                 what="analytics to count the conversation")
        time.sleep(1)  # give a wrongly sent second event the time to arrive
        day = client.get("/api/users/me/analytics?days=1", headers=user["headers"]).json()["days"][0]
        assert day["conversations"] == 1


def test_analytics_reports_disabled_without_the_plugin(api, user):
    answer = api.get("/api/users/me/analytics?days=3", headers=user["headers"]).json()
    assert answer["enabled"] is False and len(answer["days"]) == 3
    assert api.get("/api/users/me/analytics?days=0", headers=user["headers"]).status_code == 422
