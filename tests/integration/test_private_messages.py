"""Private messages between users on two web processes, and the seed's `message_sent` receipt."""
from __future__ import annotations

import httpx

from tests.chat_client import ChatClient
from tests.integration.chat_fixtures import chat_env, chat_stack  # noqa: F401 - fixtures


def test_private_messages_across_processes(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    a_id, b_id = alice["user"]["id"], bob["user"]["id"]
    to_bob = ChatClient(chat_stack.a, f"/ws/private/{b_id}", alice["access_token"])
    bob_home = ChatClient(chat_stack.b, "/ws", bob["access_token"])
    # the seed's bare frame: no type, a numeric message_id
    to_bob.send({"content": "psst", "message_id": 7})
    sent = to_bob.until(lambda f: f["type"] == "message_sent")
    assert sent["messageId"] == "7" and sent["to"] == b_id and sent["duplicate"] is False
    got = bob_home.until(lambda f: f["type"] == "private_message")
    assert got["from"] == a_id and got["to"] == b_id and got["content"] == "psst" and got["id"] == sent["id"]
    assert got["messageId"] == "7" and isinstance(got["timestamp"], int)
    # bob answers from his personal socket on the other process
    bob_home.send({"type": "private", "to": a_id, "content": "hi", "message_id": "b1"})
    assert bob_home.until(lambda f: f["type"] == "message_sent")["to"] == a_id
    assert to_bob.until(lambda f: f["type"] == "private_message")["content"] == "hi"
    to_bob.close()
    bob_home.close()


def test_resending_a_message_id_is_the_same_message(chat_stack):
    alice, bob = chat_stack.user(), chat_stack.user()
    to_bob = ChatClient(chat_stack.a, f"/ws/private/{bob['user']['id']}", alice["access_token"])
    to_bob.chat("once", message_id="m-1")
    first = to_bob.until(lambda f: f["type"] == "message_sent")
    to_bob.close()
    again = ChatClient(chat_stack.b, f"/ws/private/{bob['user']['id']}", alice["access_token"])
    again.chat("once", message_id="m-1")  # e.g. the receipt was lost with the connection
    second = again.until(lambda f: f["type"] == "message_sent")
    assert second["id"] == first["id"] and second["duplicate"] is True
    again.close()
    bob_home = ChatClient(chat_stack.a, "/ws", bob["access_token"])
    msgs = bob_home.messages_until(1)
    assert [m["content"] for m in msgs] == ["once"] and bob_home.ready["replayed"] == 1
    bob_home.close()


def test_private_socket_targets_must_exist_and_identity_comes_from_the_token(chat_stack):
    import websocket

    alice, bob = chat_stack.user(), chat_stack.user()
    for path, status in (("/ws/private/usr_nobody", 404), (f"/ws/private/{alice['user']['id']}", 422)):
        try:
            ChatClient(chat_stack.a, path, alice["access_token"])
            raise AssertionError("handshake should have been refused")
        except websocket.WebSocketBadStatusException as exc:
            assert exc.status_code == status
    # the URL names only the peer: whoever holds bob's token is bob
    to_alice = ChatClient(chat_stack.b, f"/ws/private/{alice['user']['id']}", bob["access_token"])
    alice_home = ChatClient(chat_stack.a, "/ws", alice["access_token"])
    to_alice.chat("who am i")
    assert alice_home.until(lambda f: f["type"] == "private_message")["from"] == bob["user"]["id"]
    # a private socket to alice does not carry messages from anybody else
    with httpx.Client(base_url=chat_stack.a, timeout=10) as api:
        carol = chat_stack.user()
        carol_home = ChatClient(chat_stack.a, "/ws", carol["access_token"])
        carol_home.send({"type": "private", "to": bob["user"]["id"], "content": "from carol"})
        carol_home.until(lambda f: f["type"] == "message_sent")
        bob_to_alice_only = to_alice
        bob_to_alice_only.send({"type": "ping"})
        bob_to_alice_only.until(lambda f: f["type"] == "pong")
        assert not [f for f in bob_to_alice_only.received if f.get("from") == carol["user"]["id"]]
        pending = api.get("/api/deliveries?state=pending&role=recipient", headers=bob["headers"]).json()
        assert [d["frame"]["content"] for d in pending["deliveries"]] == ["from carol"]
        carol_home.close()
    to_alice.close()
    alice_home.close()
