"""Rooms across two web processes: join/leave presence, chat messages, members and history over REST."""
from __future__ import annotations

import uuid

import httpx

from tests.chat_client import ChatClient
from tests.integration.chat_fixtures import chat_env, chat_stack  # noqa: F401 - fixtures
from tests.support import wait_for


def room_name() -> str:
    return "r-" + uuid.uuid4().hex[:10]


def test_users_on_different_processes_share_a_room(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    room = room_name()
    a = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    b = ChatClient(chat_stack.b, f"/ws/room/{room}", bob["access_token"])
    joined = a.until(lambda f: f["type"] == "user_joined" and f["userId"] == bob["user"]["id"])
    assert joined["roomId"] == room and isinstance(joined["timestamp"], int)
    for i in range(5):
        a.chat(f"hello {i}", message_id=f"a-{i}")
    sent = [a.until(lambda f: f["type"] == "message_sent") for _ in range(5)]
    assert [s["messageId"] for s in sent] == [f"a-{i}" for i in range(5)]
    got = b.messages_until(5)
    assert [m["content"] for m in got] == [f"hello {i}" for i in range(5)]
    assert all(m["type"] == "chat_message" and m["userId"] == alice["user"]["id"] and m["roomId"] == room
               and isinstance(m["timestamp"], int) for m in got)
    assert [m["id"] for m in got] == [s["id"] for s in sent]
    b.chat("hi back", message_id="b-1")
    assert a.until(lambda f: f["type"] == "chat_message")["content"] == "hi back"

    with httpx.Client(base_url=chat_stack.b, timeout=10) as api:
        members = api.get(f"/api/rooms/{room}/members", headers=alice["headers"]).json()
        assert {m["userId"]: m["online"] for m in members["members"]} == {
            alice["user"]["id"]: True, bob["user"]["id"]: True}
        history = api.get(f"/api/rooms/{room}/messages?page_size=4", headers=bob["headers"]).json()
        assert history["total"] == 6 and history["total_pages"] == 2
        assert [m["content"] for m in history["messages"]] == ["hi back", "hello 4", "hello 3", "hello 2"]
        newest = history["messages"][0]  # camelCase like every resource of ours (README "Naming")
        assert newest["roomId"] == room and newest["userId"] == bob["user"]["id"] and newest["messageId"] == "b-1"
        assert not {"room_id", "user_id", "message_id"} & set(newest)
        page2 = api.get(f"/api/rooms/{room}/messages?page_size=4&page=2", headers=bob["headers"]).json()
        assert [m["content"] for m in page2["messages"]] == ["hello 1", "hello 0"]

    b.close()
    left = a.until(lambda f: f["type"] == "user_left")
    assert left["userId"] == bob["user"]["id"] and left["roomId"] == room

    def bob_offline():
        with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
            members = api.get(f"/api/rooms/{room}/members", headers=alice["headers"]).json()["members"]
        return {m["userId"]: m["online"] for m in members}[bob["user"]["id"]] is False
    wait_for(bob_offline, timeout=10, what="bob offline")
    a.close()


def test_room_is_invisible_to_non_members_and_room_ids_are_checked(chat_stack):
    alice, eve = chat_stack.user(), chat_stack.user()
    room = room_name()
    a = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    with httpx.Client(base_url=chat_stack.b, timeout=10) as api:
        for path in (f"/api/rooms/{room}/members", f"/api/rooms/{room}/messages"):
            r = api.get(path, headers=eve["headers"])
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = api.get("/api/rooms/bad%20room!/members", headers=alice["headers"])
        assert r.status_code == 422
        assert api.get("/api/rooms", headers=alice["headers"]).json()["rooms"][0]["id"] == room
        assert api.get("/api/rooms", headers=eve["headers"]).json()["rooms"] == []
    a.close()


def test_leaving_a_room_stops_its_messages(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    room = room_name()
    a = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    b = ChatClient(chat_stack.b, f"/ws/room/{room}", bob["access_token"])
    b.send({"type": "leave"})
    assert b.close_code() == 1000
    a.chat("after bob left", message_id="x1")
    sent = a.until(lambda f: f["type"] == "message_sent")
    with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
        members = api.get(f"/api/rooms/{room}/members", headers=alice["headers"]).json()["members"]
        assert [m["userId"] for m in members] == [alice["user"]["id"]]
        pending = api.get("/api/deliveries?role=sender", headers=alice["headers"]).json()
        assert [d["messageId"] for d in pending["deliveries"]] == []  # nobody else to deliver to
        assert sent["roomId"] == room
    a.close()
