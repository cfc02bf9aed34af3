"""One naming rule (README "Naming"): validation `loc`s start with where the value was, chat frames are
camelCase while the seed's snake_case frames are still accepted."""
from __future__ import annotations

from tests.chat_client import ChatClient
from tests.integration.chat_fixtures import chat_env, chat_stack  # noqa: F401 - fixtures


def test_validation_locations_have_one_shape(api, user):
    r = api.post("/api/chat", json={"messages": [{"role": "wizard", "content": "x"}]}, headers=user["headers"])
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"][:4] == ["body", "messages", 0, "role"]
    r = api.post("/api/conversations/batch", json=[{"id": "a", "title": 5}], headers=user["headers"])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][:3] == ["body", 0, "title"]
    r = api.get("/api/jobs?status=bogus", headers=user["headers"])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", "status"]
    r = api.get("/api/search?query=x&date_from=5&date_to=1", headers=user["headers"])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", "date_from"]


def test_frames_are_camel_case_and_seed_names_still_accepted(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    room = "n-" + alice["user"]["id"][-8:]
    a = ChatClient(chat_stack.a, f"/ws/room/{room}", alice["access_token"])
    assert a.ready["userId"] == alice["user"]["id"] and "user_id" not in a.ready
    home = ChatClient(chat_stack.b, "/ws", bob["access_token"])
    b = ChatClient(chat_stack.b, f"/ws/room/{room}", bob["access_token"])
    b.close()
    a.send({"type": "chat", "content": "camel", "messageId": "c-1"})
    sent = a.until(lambda f: f["type"] == "message_sent")
    assert sent["messageId"] == "c-1" and sent["roomId"] == room and not {"message_id", "room_id"} & set(sent)
    got = home.until(lambda f: f["type"] == "chat_message")
    assert got["roomId"] == room and got["userId"] == alice["user"]["id"] and got["messageId"] == "c-1"
    home.send({"type": "chat", "room_id": room, "content": "snake", "message_id": "s-1"})  # the seed's names
    assert home.until(lambda f: f["type"] == "message_sent")["messageId"] == "s-1"
    home.send({"type": "chat", "content": "nowhere"})
    err = home.until(lambda f: f["type"] == "error")
    assert err["code"] == "bad_frame" and "roomId" in err["message"]
    for c in (a, home):
        c.close()
