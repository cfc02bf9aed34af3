"""Reliable delivery through the real stack: cut connections, offline recipients, a stopped worker, dead letters.

Every check is "each message arrives exactly once per id after client-side de-duplication, in
order" plus the stored delivery states, read over REST.
"""
from __future__ import annotations

import uuid

import httpx

from tests.chat_client import ChatClient, unique
from tests.integration.chat_fixtures import chat_env, chat_stack  # noqa: F401 - fixtures
from tests.support import wait_for


def deliveries(stack, user, **params) -> list[dict]:
    out: list[dict] = []
    with httpx.Client(base_url=stack.a, timeout=10) as api:
        page = 1
        while True:
            r = api.get("/api/deliveries", params={**params, "page": page, "page_size": 200}, headers=user["headers"])
            assert r.status_code == 200, r.text
            body = r.json()
            out += body["deliveries"]
            if page >= body["total_pages"]:
                return out
            page += 1


def send_all(client: ChatClient, texts: list[str]) -> list[dict]:
    receipts = []
    for i, text in enumerate(texts):
        client.chat(text, message_id=f"{text}-{i}")
        receipts.append(client.until(lambda f: f["type"] in ("message_sent", "error")))
    assert all(r["type"] == "message_sent" for r in receipts), receipts
    return receipts


def all_acked(stack, user, count: int):
    states = [d["state"] for d in deliveries(stack, user, role="recipient")]
    return len(states) == count and set(states) == {"delivered"}


def test_connection_killed_mid_flight_then_reconnect_gets_everything_once_in_order(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    to_bob = ChatClient(chat_stack.a, f"/ws/private/{bob['user']['id']}", alice["access_token"])
    bob1 = ChatClient(chat_stack.b, "/ws", bob["access_token"])
    texts = [f"m{i:02d}" for i in range(30)]
    for i, text in enumerate(texts):  # no waiting for receipts: many frames in flight when bob's socket dies
        to_bob.chat(text, message_id=f"k{i}")
        if i == 12:
            bob1.messages_until(5)
            bob1.kill()
    receipts = [to_bob.until(lambda f: f["type"] == "message_sent") for _ in texts]
    bob2 = ChatClient(chat_stack.a, "/ws", bob["access_token"])  # the other process this time
    got = unique(bob1.received + bob2.messages_until(30 - len(unique(bob1.received))) + bob2.received)
    assert [m["content"] for m in got] == texts
    assert [m["id"] for m in got] == [r["id"] for r in receipts]
    wait_for(lambda: all_acked(chat_stack, bob, 30), timeout=15, what="all 30 acknowledged")
    # acknowledged messages are not sent again: a new connection replays nothing
    bob3 = ChatClient(chat_stack.b, "/ws", bob["access_token"])
    assert bob3.ready["replayed"] == 0
    for c in (to_bob, bob2, bob3):
        c.close()


def test_recipient_offline_for_the_whole_exchange_gets_it_all_on_connect(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    room = "off-" + uuid.uuid4().hex[:8]
    ChatClient(chat_stack.b, f"/ws/room/{room}", bob["access_token"]).close()  # bob joins, then is gone
    in_room = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    to_bob = ChatClient(chat_stack.a, f"/ws/private/{bob['user']['id']}", alice["access_token"])
    room_receipts = send_all(in_room, [f"room{i}" for i in range(8)])
    pm_receipts = send_all(to_bob, [f"pm{i}" for i in range(8)])
    pending = deliveries(chat_stack, bob, state="pending", role="recipient")
    assert len(pending) == 16 and all(d["attempts"] == 0 for d in pending)  # offline: no attempt spent
    bob_home = ChatClient(chat_stack.b, "/ws", bob["access_token"])
    assert bob_home.ready["replayed"] == 16
    got = bob_home.messages_until(16)
    assert [m["id"] for m in got] == sorted(r["id"] for r in room_receipts + pm_receipts)
    assert [m["content"] for m in got if m["type"] == "chat_message"] == [f"room{i}" for i in range(8)]
    assert [m["content"] for m in got if m["type"] == "private_message"] == [f"pm{i}" for i in range(8)]
    assert len(bob_home.received) == 16  # the replay sent each once
    wait_for(lambda: all_acked(chat_stack, bob, 16), timeout=15, what="all acknowledged")
    for c in (in_room, to_bob, bob_home):
        c.close()


def test_worker_stopped_while_deliveries_pending_completes_after_restart(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    to_bob = ChatClient(chat_stack.a, f"/ws/private/{bob['user']['id']}", alice["access_token"])
    bob_home = ChatClient(chat_stack.b, "/ws", bob["access_token"], auto_ack=False)  # drops the first copies
    chat_stack.worker.stop()
    try:
        receipts = send_all(to_bob, [f"w{i}" for i in range(6)])
        first = bob_home.messages_until(6)
        assert [m["id"] for m in first] == [r["id"] for r in receipts]
        assert {d["state"] for d in deliveries(chat_stack, bob, role="recipient")} == {"pending"}
        bob_home.auto_ack = True
    finally:
        chat_stack.restart_worker()
    # only the worker's redelivery can bring the second copies that bob now acknowledges
    wait_for(lambda: all_acked(chat_stack, bob, 6), timeout=30, what="redelivered and acknowledged")
    rows = deliveries(chat_stack, bob, role="recipient")
    assert all(d["attempts"] >= 1 and d["ackedAt"] for d in rows)
    assert [m["content"] for m in unique(bob_home.received)] == [f"w{i}" for i in range(6)]
    to_bob.close()
    bob_home.close()


def test_unacknowledged_deliveries_go_dead_are_listed_and_can_be_retried(chat_stack):
    alice, bob, eve = chat_stack.user(), chat_stack.user(), chat_stack.user()
    to_bob = ChatClient(chat_stack.a, f"/ws/private/{bob['user']['id']}", alice["access_token"])
    bob_home = ChatClient(chat_stack.b, "/ws", bob["access_token"], auto_ack=False)  # never acknowledges
    [receipt] = send_all(to_bob, ["lost cause"])

    def dead():
        with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
            return api.get("/api/deliveries/dead", headers=bob["headers"]).json()["deliveries"]
    [letter] = wait_for(dead, timeout=40, what="a dead letter")
    assert letter["messageId"] == receipt["id"] and letter["state"] == "dead" and letter["attempts"] == 3
    assert "not acknowledged" in letter["lastError"]
    copies = [m for m in bob_home.received if m["id"] == receipt["id"]]
    assert len(copies) == 4  # the live push and three redeliveries, then it stopped
    with httpx.Client(base_url=chat_stack.b, timeout=10) as api:
        as_sender = api.get("/api/deliveries/dead?role=sender", headers=alice["headers"]).json()
        assert [d["id"] for d in as_sender["deliveries"]] == [letter["id"]]
        assert api.get("/api/deliveries/dead", headers=eve["headers"]).json()["deliveries"] == []
        r = api.post(f"/api/deliveries/{letter['id']}/retry", headers=eve["headers"])
        assert r.status_code == 404
        bob_home.auto_ack = True
        r = api.post(f"/api/deliveries/{letter['id']}/retry", headers=bob["headers"])
        assert r.status_code == 200 and r.json()["state"] == "pending" and r.json()["attempts"] == 0
        wait_for(lambda: all_acked(chat_stack, bob, 1), timeout=15, what="the retried letter acknowledged")
        again = api.post(f"/api/deliveries/{letter['id']}/retry", headers=bob["headers"])
        assert again.status_code == 409
        assert api.get("/api/deliveries/dead", headers=bob["headers"]).json()["deliveries"] == []
    to_bob.close()
    bob_home.close()


def test_acks_only_touch_the_callers_deliveries(chat_stack):
    alice, bob, eve = chat_stack.user(), chat_stack.user(), chat_stack.user()
    to_bob = ChatClient(chat_stack.a, f"/ws/private/{bob['user']['id']}", alice["access_token"])
    [receipt] = send_all(to_bob, ["for bob only"])
    eve_home = ChatClient(chat_stack.b, "/ws", eve["access_token"], auto_ack=False)
    eve_home.ack([receipt["id"]])  # somebody else's message id
    to_eve = ChatClient(chat_stack.a, f"/ws/private/{eve['user']['id']}", alice["access_token"])
    send_all(to_eve, ["for eve"])
    [own] = eve_home.messages_until(1)
    eve_home.ack([own["id"]])  # acks are recorded in order: once this one is, the first one was too
    wait_for(lambda: all_acked(chat_stack, eve, 1), timeout=15, what="eve's own ack")
    [row] = deliveries(chat_stack, bob, role="recipient")
    assert row["state"] == "pending"
    for c in (to_bob, eve_home, to_eve):
        c.close()
