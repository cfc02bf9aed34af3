"""Conversations and messages CRUD, scoped to the caller."""
from __future__ import annotations

import uuid

import pytest


def create(api, user, **body):
    r = api.post("/api/conversations", json=body, headers=user["headers"])
    assert r.status_code == 201, r.text
    return r.json()


def test_create_with_seed_shape_and_client_id(api, user, other_user):
    cid = f"conv_{uuid.uuid4().hex[:8]}"
    body = {"id": cid, "title": "对话 1", "messages": [{"role": "user", "content": "hi <b>there</b>"}],
            "createdAt": 1697467200000, "updatedAt": 1697467200000, "model": "gpt-4",
            "userId": other_user["user"]["id"], "systemPrompt": "Be kind."}
    conv = create(api, user, **body)
    assert conv["id"] == cid and conv["userId"] == user["user"]["id"]  # owner comes from the token
    assert conv["title"] == "对话 1" and conv["model"] == "gpt-4" and conv["systemPrompt"] == "Be kind."
    assert conv["createdAt"] == 1697467200000
    assert [(m["role"], m["content"]) for m in conv["messages"]] == [("user", "hi <b>there</b>")]
    got = api.get(f"/api/conversations/{cid}", headers=user["headers"]).json()
    assert got == conv
    assert api.get(f"/api/conversations/{cid}", headers=other_user["headers"]).status_code == 404


def test_defaults(api, user):
    conv = create(api, user)
    assert conv["id"].startswith("conv_") and conv["title"] == "New conversation" and conv["model"] == "demo-1"
    assert conv["messages"] == [] and conv["systemPrompt"] is None


def test_duplicate_id_conflicts(api, user, other_user):
    cid = f"conv_{uuid.uuid4().hex[:8]}"
    create(api, user, id=cid)
    for who in (user, other_user):
        r = api.post("/api/conversations", json={"id": cid}, headers=who["headers"])
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize("body", [
    {"title": ""}, {"title": "x" * 201}, {"id": "has space"}, {"id": "x" * 65},
    {"messages": [{"role": "wizard", "content": "x"}]}, {"messages": [{"role": "user"}]},
    {"messages": [{"role": "user", "content": "x" * 100_001}]}, {"createdAt": -5}, {"model": ""},
    {"title": 5},
])
def test_invalid_create_is_422_and_writes_nothing(api, user, body):
    before = api.get("/api/conversations", headers=user["headers"]).json()["total"]
    r = api.post("/api/conversations", json=body, headers=user["headers"])
    assert r.status_code == 422, body
    assert r.json()["error"]["code"] == "validation_error" and r.json()["error"]["details"]
    assert api.get("/api/conversations", headers=user["headers"]).json()["total"] == before


def test_list_pagination_and_sorting(api):
    from tests.integration.conftest import register

    u = register(api)
    titles = ["b", "a", "d", "c", "e"]
    ids = [create(api, u, title=t, createdAt=1_700_000_000_000 + i)["id"] for i, t in enumerate(titles)]
    page = api.get("/api/conversations?page=1&page_size=2&sort_by=createdAt&sort_order=asc",
                   headers=u["headers"]).json()
    assert page["total"] == 5 and page["total_pages"] == 3 and page["page"] == 1 and page["page_size"] == 2
    assert [c["id"] for c in page["conversations"]] == ids[:2]
    last = api.get("/api/conversations?page=3&page_size=2&sort_by=createdAt&sort_order=asc",
                   headers=u["headers"]).json()
    assert [c["id"] for c in last["conversations"]] == ids[4:]
    by_title = api.get("/api/conversations?sort_by=title&sort_order=desc", headers=u["headers"]).json()
    assert [c["title"] for c in by_title["conversations"]] == ["e", "d", "c", "b", "a"]
    for bad in ("page=0", "page_size=101", "sort_by=id", "sort_order=up", "page=x"):
        r = api.get(f"/api/conversations?{bad}", headers=u["headers"])
        assert r.status_code == 422, bad


def test_patch_changes_only_what_is_sent(api, user):
    conv = create(api, user, title="old", systemPrompt="p")
    r = api.patch(f"/api/conversations/{conv['id']}", json={"title": "new"}, headers=user["headers"])
    assert r.status_code == 200
    assert r.json()["title"] == "new" and r.json()["systemPrompt"] == "p"
    assert r.json()["updatedAt"] >= conv["updatedAt"]
    for bad in ({"title": ""}, {"title": None}, {"unknown": 1}, {"model": "x" * 101}):
        r = api.patch(f"/api/conversations/{conv['id']}", json=bad, headers=user["headers"])
        assert r.status_code == 422, bad
    assert api.get(f"/api/conversations/{conv['id']}", headers=user["headers"]).json()["title"] == "new"


def test_messages_append_and_list_in_order(api, user):
    conv = create(api, user)
    for i, role in enumerate(["user", "assistant", "user"]):
        r = api.post(f"/api/conversations/{conv['id']}/messages", headers=user["headers"],
                     json={"role": role, "content": f"m{i}", "tokens": i, "model": "demo-1"})
        assert r.status_code == 201 and r.json()["conversationId"] == conv["id"]
    msgs = api.get(f"/api/conversations/{conv['id']}/messages", headers=user["headers"]).json()["messages"]
    assert [m["content"] for m in msgs] == ["m0", "m1", "m2"]
    assert api.get(f"/api/conversations/{conv['id']}", headers=user["headers"]).json()["updatedAt"] >= msgs[-1]["timestamp"]
    r = api.post(f"/api/conversations/{conv['id']}/messages", headers=user["headers"], json={"role": "bot", "content": "x"})
    assert r.status_code == 422


def test_delete_removes_conversation_and_messages(api, user, app):
    conv = create(api, user, messages=[{"role": "user", "content": "bye"}])
    assert api.delete(f"/api/conversations/{conv['id']}", headers=user["headers"]).status_code == 204
    assert api.get(f"/api/conversations/{conv['id']}", headers=user["headers"]).status_code == 404
    with app.app_context():
        from sqlalchemy import func, select

        from models import Message
        from models.db import db

        assert db.session.scalar(select(func.count()).select_from(Message)
                                 .where(Message.conversation_id == conv["id"])) == 0


def test_another_users_conversation_is_404_for_every_verb_and_unchanged(api, user, other_user):
    conv = create(api, user, title="private")
    path = f"/api/conversations/{conv['id']}"
    h = other_user["headers"]
    calls = [api.get(path, headers=h), api.patch(path, json={"title": "hacked"}, headers=h),
             api.delete(path, headers=h), api.get(path + "/messages", headers=h),
             api.post(path + "/messages", json={"role": "user", "content": "x"}, headers=h)]
    for r in calls:
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    after = api.get(path, headers=user["headers"]).json()
    assert after["title"] == "private" and after["messages"] == []
    listed = api.get("/api/conversations", headers=h).json()
    assert conv["id"] not in [c["id"] for c in listed["conversations"]]


def test_requires_auth(api):
    r = api.get("/api/conversations")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
