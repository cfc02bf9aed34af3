"""Bad input and abuse on chat sockets, heartbeats and slow consumers, through the real stack."""
from __future__ import annotations

import json
import socket
import time
import uuid

import httpx
import websocket

from tests.chat_client import ChatClient
from tests.integration.chat_fixtures import chat_env, chat_stack  # noqa: F401 - fixtures
from tests.support import wait_for


def refused(base: str, path: str, token: str | None, **kwargs) -> int:
    try:
        ChatClient(base, path, token or "", **kwargs) if token is not None else websocket.create_connection(
            base.replace("http://", "ws://") + path, timeout=10)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    raise AssertionError("handshake should have been refused")


def test_handshake_refusals(chat_stack):
    alice = chat_stack.user()
    assert refused(chat_stack.a, "/ws", None) == 401
    assert refused(chat_stack.a, "/ws", "not-a-token") == 401
    assert refused(chat_stack.b, "/ws/room/ok", alice["access_token"], origin="http://evil.example") == 403
    assert refused(chat_stack.b, "/ws/room/" + "x" * 65, alice["access_token"]) == 422
    assert refused(chat_stack.b, "/ws/room/-leading-dash", alice["access_token"]) == 422
    # the allowed Origin is fine
    ChatClient(chat_stack.b, "/ws/room/ok", alice["access_token"], origin="http://allowed.example").close()
    # a revoked token is refused on every process
    with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
        assert api.post("/api/auth/logout", headers=alice["headers"]).status_code in (200, 204)
    assert refused(chat_stack.b, "/ws", alice["access_token"]) == 401


def test_malformed_frames_get_error_frames_and_the_socket_stays_open(chat_stack):
    alice = chat_stack.user()
    c = ChatClient(chat_stack.a, f"/ws/room/lim-{uuid.uuid4().hex[:6]}", alice["access_token"])
    for bad in ("not json", "[1,2]", json.dumps({"type": "nope"}), json.dumps({"type": "ack", "ids": ["x"]})):
        c.send(bad)
        err = c.until(lambda f: f["type"] == "error")
        assert err["code"] == "bad_frame"
        c.send({"type": "ping"})  # resets the malformed streak, and proves the socket is alive
        c.until(lambda f: f["type"] == "pong")
    c.ws.send_binary(b"\x00\x01")
    assert c.until(lambda f: f["type"] == "error")["code"] == "bad_frame"
    c.chat("x" * 2001, message_id="long")
    err = c.until(lambda f: f["type"] == "error")
    assert err["code"] == "message_too_long" and err["messageId"] == "long"
    c.chat("", message_id="empty")
    assert c.until(lambda f: f["type"] == "error")["messageId"] == "empty"
    c.chat("fine", message_id="ok")
    assert c.until(lambda f: f["type"] == "message_sent")["messageId"] == "ok"
    c.close()


def test_abuse_closes_with_a_proper_code(chat_stack):
    alice = chat_stack.user()
    room = f"abuse-{uuid.uuid4().hex[:6]}"
    streak = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    for _ in range(5):
        streak.send("garbage")
    assert streak.close_code() == 1008
    big = ChatClient(chat_stack.b, f"/ws/room/{room}", alice["access_token"])
    big.chat("y" * 9000)  # a frame above WS_MAX_FRAME_BYTES
    assert big.close_code() == 1009


def test_message_rate_is_limited_per_user_across_processes(chat_stack):
    alice = chat_stack.user()
    room = f"rate-{uuid.uuid4().hex[:6]}"
    a = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    b = ChatClient(chat_stack.b, f"/ws/room/{room}", alice["access_token"])
    for i in range(60):  # 120 messages in a burst, half on each process, against a limit of 40/s
        a.chat("a", message_id=f"a{i}")
        b.chat("b", message_id=f"b{i}")
    replies = [f for c in (a, b) for f in _replies(c, 60)]
    limited = [f for f in replies if f["type"] == "error"]
    stored = [f for f in replies if f["type"] == "message_sent"]
    assert limited and all(f["code"] == "rate_limited" for f in limited)
    assert len(stored) + len(limited) == 120
    with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
        history = api.get(f"/api/rooms/{room}/messages?page_size=1", headers=alice["headers"]).json()
    assert history["total"] == len(stored)  # refused messages were not stored
    # far above the limit the socket is closed
    flood = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    try:
        for i in range(400):
            if flood.closed.is_set():
                break
            flood.chat("f", message_id=f"f{i}")
            if i % 10 == 9:
                time.sleep(0.01)  # stop writing soon after the close, so it is not lost to a reset
    except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
        pass
    assert flood.close_code() == 4029
    for c in (a, b):
        c.close()


def _replies(client: ChatClient, count: int) -> list[dict]:
    out: list[dict] = []
    while len(out) < count:
        out.append(client.until(lambda f: f["type"] in ("message_sent", "error")))
    return out


def test_dead_socket_is_closed_and_presence_updated_within_two_intervals(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    room = f"hb-{uuid.uuid4().hex[:6]}"
    a = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    # bob's client never reads again, so it never answers a ping: a hung or vanished peer
    silent = ChatClient(chat_stack.b, f"/ws/room/{room}", bob["access_token"], reader=False, wait_ready=False)
    a.until(lambda f: f["type"] == "user_joined" and f["userId"] == bob["user"]["id"])
    left = a.until(lambda f: f["type"] == "user_left", timeout=15)
    assert left["userId"] == bob["user"]["id"]
    with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
        members = api.get(f"/api/rooms/{room}/members", headers=alice["headers"]).json()["members"]
    assert {m["userId"]: m["online"] for m in members}[bob["user"]["id"]] is False
    silent.ws.sock.close()
    a.close()


def test_slow_consumer_is_closed_and_others_are_unaffected(chat_stack):
    senders = [chat_stack.user() for _ in range(4)]
    slow_user, fast_user = chat_stack.user(), chat_stack.user()
    room = f"slow-{uuid.uuid4().hex[:6]}"
    fast = ChatClient(chat_stack.b, f"/ws/room/{room}", fast_user["access_token"])
    clients = [ChatClient(chat_stack.a if i % 2 else chat_stack.b, f"/ws/room/{room}", s["access_token"])
               for i, s in enumerate(senders)]
    # reads (and answers pings) until the burst starts, then stops reading, with a tiny receive buffer
    slow = ChatClient(chat_stack.a, f"/ws/room/{room}", slow_user["access_token"], auto_ack=False,
                      sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    slow.pause()
    body = "z" * 2000
    total = 0
    for round_ in range(30):  # ~120 frames of 2 kB, far more than the slow socket's kernel buffers and outbox
        for i, c in enumerate(clients):
            c.chat(body, message_id=f"{round_}-{i}")
        total += len(clients)
    for c in clients:
        assert len(_replies(c, 30)) == 30
    got = fast.messages_until(total)  # the fast member gets everything
    assert len(got) == total
    log = chat_stack.web_a.log_path
    wait_for(lambda: "closing slow consumer" in log.read_text(errors="replace"), timeout=15, what="slow consumer cut")
    wait_for(lambda: not _online(chat_stack, fast_user, room, slow_user), timeout=15, what="slow member gone")
    with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
        page = api.get("/api/deliveries", params={"role": "recipient", "page_size": 200},
                       headers=slow_user["headers"]).json()
    assert page["total"] == total and {d["state"] for d in page["deliveries"]} == {"pending"}
    slow.kill()
    for c in clients + [fast]:
        c.close()


def _online(stack, viewer, room, user) -> bool:
    with httpx.Client(base_url=stack.a, timeout=10) as api:
        members = api.get(f"/api/rooms/{room}/members", headers=viewer["headers"]).json()["members"]
    return {m["userId"]: m["online"] for m in members}.get(user["user"]["id"], False)
