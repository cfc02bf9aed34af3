"""A web process killed with kill -9: its users vanish from presence, and the room's other members get
`user_left` within the documented bound (two ping intervals plus 5 s), exactly once, although every
surviving process sweeps the room."""
from __future__ import annotations

import time
import uuid
from typing import Iterator

import httpx
import pytest

from tests.chat_client import ChatClient
from tests.integration.chat_fixtures import CHAT_LIMITS
from tests.integration.conftest import register, settings_env
from tests.support import Proc, delete_redis_prefix, free_port, gunicorn_argv, stop_all, wait_http_ok

PING = float(CHAT_LIMITS["WS_PING_INTERVAL"])
BOUND = 2 * PING + 5


@pytest.fixture()
def three_webs(settings, redis_prefix, log_dir) -> Iterator[list[str]]:
    prefix = f"{redis_prefix}pres{uuid.uuid4().hex[:6]}:"
    env = settings_env(settings, REDIS_KEY_PREFIX=prefix, **CHAT_LIMITS)
    procs, urls = [], []
    try:
        for name in ("a", "b", "c"):
            port = free_port()
            procs.append(Proc(f"presence-web-{name}", gunicorn_argv(port, workers=1), env, log_dir).start())
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs):
            wait_http_ok(url + "/readyz", proc)
        yield urls, procs
    finally:
        stop_all(procs)  # only the processes this test started
        delete_redis_prefix(settings.redis_url, prefix)


def test_killed_process_users_leave_once_within_the_bound(three_webs):
    (a, b, c), procs = three_webs
    with httpx.Client(base_url=a, timeout=30) as api:
        alice, bob, carol = register(api), register(api), register(api)
    room = "p-" + uuid.uuid4().hex[:8]
    watch_a = ChatClient(a, f"/ws/room/{room}", alice["access_token"])
    watch_c = ChatClient(c, f"/ws/room/{room}", carol["access_token"])
    _bob_socket = ChatClient(b, f"/ws/room/{room}", bob["access_token"])
    bob_id = bob["user"]["id"]
    for watcher in (watch_a, watch_c):
        watcher.until(lambda f: f["type"] == "user_joined" and f["userId"] == bob_id)

    procs[1].kill9()  # bob's web process dies without closing anything
    killed_at = time.monotonic()
    left = watch_a.until(lambda f: f["type"] == "user_left" and f["userId"] == bob_id, timeout=BOUND + 10)
    took = time.monotonic() - killed_at
    assert left["roomId"] == room and isinstance(left["timestamp"], int)
    assert took <= BOUND + 1.0, f"user_left after {took:.1f}s, bound {BOUND}s"
    watch_c.until(lambda f: f["type"] == "user_left" and f["userId"] == bob_id, timeout=5)

    time.sleep(2 * PING + 1)  # more sweeps by both survivors: still one announcement each
    for watcher in (watch_a, watch_c):
        lefts = [f for f in watcher.frames if f["type"] == "user_left" and f["userId"] == bob_id]
        assert len(lefts) == 1, lefts
    # alice and carol are still there (their processes keep their entries fresh), bob is offline
    with httpx.Client(base_url=c, timeout=10) as api:
        members = api.get(f"/api/rooms/{room}/members", headers=alice["headers"]).json()["members"]
    assert {m["userId"]: m["online"] for m in members} == {
        alice["user"]["id"]: True, bob_id: False, carol["user"]["id"]: True}
    assert not [f for w in (watch_a, watch_c) for f in w.frames
                if f["type"] == "user_left" and f["userId"] != bob_id]
    for client in (watch_a, watch_c):
        client.close()
