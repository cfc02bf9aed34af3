"""Registration, login, refresh, logout and `me` against the real server, PostgreSQL and Redis."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from models import User
from tests.integration.conftest import STRONG_PASSWORD, register


def new_name() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


def test_register_returns_tokens_and_user(api):
    name = new_name()
    r = api.post("/api/auth/register", json={"username": name, "email": f"{name}@Example.com",
                                             "password": STRONG_PASSWORD})
    assert r.status_code == 201
    body = r.json()
    assert body["access_token"] and body["refresh_token"] and body["token_type"] == "bearer"
    assert body["user"]["username"] == name and body["user"]["email"] == f"{name}@example.com"
    assert isinstance(body["user"]["createdAt"], int) and body["user"]["createdAt"] > 1_600_000_000_000
    assert "password" not in r.text and "password_hash" not in r.text


def test_password_is_stored_as_an_argon2_hash(api, app):
    user = register(api)
    with app.app_context():
        from models.db import db

        stored = db.session.execute(select(User.password_hash).where(User.id == user["user"]["id"])).scalar_one()
    assert stored.startswith("$argon2id$") and STRONG_PASSWORD not in stored


@pytest.mark.parametrize("password,missing", [
    ("Sh0rt!", "at least 8 characters"),
    ("nouppercase1!", "an uppercase letter"),
    ("NOLOWERCASE1!", "a lowercase letter"),
    ("NoDigitsHere!", "a digit"),
    ("NoSpecial123", "a special character"),
])
def test_weak_passwords_are_refused_with_what_is_missing(api, password, missing):
    name = new_name()
    r = api.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "weak_password" and missing in err["message"]
    assert api.post("/api/auth/login", json={"username": name, "password": password}).status_code == 401


def test_duplicates_conflict(api):
    user = register(api)
    name = user["user"]["username"]
    r = api.post("/api/auth/register", json={"username": name.upper(), "email": f"other{name}@example.com",
                                             "password": STRONG_PASSWORD})
    assert r.status_code == 409 and r.json()["error"]["details"]["field"] == "username"
    r = api.post("/api/auth/register", json={"username": new_name(), "email": user["user"]["email"].upper(),
                                             "password": STRONG_PASSWORD})
    assert r.status_code == 409 and r.json()["error"]["details"]["field"] == "email"


@pytest.mark.parametrize("body", [
    {"username": "validname", "email": "not-an-email", "password": STRONG_PASSWORD},
    {"username": "validname", "email": "a@", "password": STRONG_PASSWORD},
    {"username": "x", "email": "x@example.com", "password": STRONG_PASSWORD},
    {"username": "bad name!", "email": "x@example.com", "password": STRONG_PASSWORD},
    {"username": "validname", "password": STRONG_PASSWORD},
])
def test_malformed_registration_is_422(api, body):
    r = api.post("/api/auth/register", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["details"]


def test_login_with_username_or_email(api):
    user = register(api)
    for ident in (user["user"]["username"], user["user"]["email"], user["user"]["email"].upper()):
        r = api.post("/api/auth/login", json={"username": ident, "password": STRONG_PASSWORD})
        assert r.status_code == 200, ident
        assert r.json()["user"]["id"] == user["user"]["id"] and r.json()["access_token"]


def test_wrong_password_and_unknown_user_look_the_same(api):
    user = register(api)
    wrong = api.post("/api/auth/login", json={"username": user["user"]["username"], "password": "Wr0ng!pass"})
    unknown = api.post("/api/auth/login", json={"username": new_name(), "password": "Wr0ng!pass"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


def test_me_requires_a_valid_token(api, user):
    assert api.get("/api/auth/me", headers=user["headers"]).json()["id"] == user["user"]["id"]
    assert api.get("/api/auth/me").status_code == 401
    r = api.get("/api/auth/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    # a refresh token is not an access token
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {user['refresh_token']}"}).status_code == 401


def test_refresh_issues_a_new_access_token(api, user):
    r = api.post("/api/auth/refresh", headers={"Authorization": f"Bearer {user['refresh_token']}"})
    assert r.status_code == 200
    token = r.json()["access_token"]
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # an access token cannot refresh
    assert api.post("/api/auth/refresh", headers=user["headers"]).status_code == 401


def test_logout_revokes_the_token(api, user):
    r = api.post("/api/auth/logout", headers=user["headers"], json={"refresh_token": user["refresh_token"]})
    assert r.status_code == 200 and r.json() == {"success": True}
    r = api.get("/api/auth/me", headers=user["headers"])
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    r = api.post("/api/auth/refresh", headers={"Authorization": f"Bearer {user['refresh_token']}"})
    assert r.status_code == 401
    # a new login still works
    login = api.post("/api/auth/login", json={"username": user["user"]["username"], "password": STRONG_PASSWORD})
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}).status_code == 200


def test_logout_without_body(api, user):
    assert api.post("/api/auth/logout", headers=user["headers"]).status_code == 200
    assert api.get("/api/auth/me", headers=user["headers"]).status_code == 401


def test_logout_cannot_revoke_someone_elses_refresh_token(api, user, other_user):
    r = api.post("/api/auth/logout", headers=user["headers"], json={"refresh_token": other_user["refresh_token"]})
    assert r.status_code == 422
    assert api.get("/api/auth/me", headers=user["headers"]).status_code == 200  # the refused logout changed nothing
    r = api.post("/api/auth/refresh", headers={"Authorization": f"Bearer {other_user['refresh_token']}"})
    assert r.status_code == 200


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _login(api, user) -> dict:
    r = api.post("/api/auth/login", json={"username": user["user"]["username"], "password": STRONG_PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def test_logout_ends_the_whole_session_and_only_that_one(api, user):
    # Session 1 (registration) mints a second access token by refresh; session 2 is another login.
    refreshed = api.post("/api/auth/refresh", headers=_bearer(user["refresh_token"])).json()["access_token"]
    other = _login(api, user)
    assert api.post("/api/auth/logout", headers=user["headers"]).status_code == 200  # no body: the README's call
    for token in (user["access_token"], refreshed):
        r = api.get("/api/auth/me", headers=_bearer(token))
        assert r.status_code == 401 and r.json()["error"]["message"] == "token has been revoked"
    r = api.post("/api/auth/refresh", headers=_bearer(user["refresh_token"]))
    assert r.status_code == 401 and r.json()["error"]["message"] == "token has been revoked"
    # the other login is another session: untouched
    assert api.get("/api/auth/me", headers=_bearer(other["access_token"])).status_code == 200
    assert api.post("/api/auth/refresh", headers=_bearer(other["refresh_token"])).status_code == 200


def test_logout_all_ends_every_session_of_the_user_only(api, user, other_user):
    second = _login(api, user)
    refreshed = api.post("/api/auth/refresh", headers=_bearer(second["refresh_token"])).json()["access_token"]
    r = api.post("/api/auth/logout-all", headers=user["headers"])
    assert r.status_code == 200 and r.json() == {"success": True}
    for token in (user["access_token"], second["access_token"], refreshed):
        assert api.get("/api/auth/me", headers=_bearer(token)).status_code == 401
    for token in (user["refresh_token"], second["refresh_token"]):
        assert api.post("/api/auth/refresh", headers=_bearer(token)).status_code == 401
    assert api.get("/api/auth/me", headers=other_user["headers"]).status_code == 200  # other users untouched
    fresh = _login(api, user)  # a login afterwards is a new session
    assert api.get("/api/auth/me", headers=_bearer(fresh["access_token"])).status_code == 200
    assert api.post("/api/auth/refresh", headers=_bearer(fresh["refresh_token"])).status_code == 200
    assert api.post("/api/auth/logout-all").status_code == 401


def test_a_revoked_session_is_refused_on_sockets_and_sse_with_the_http_message(api, user, live_server):
    import websocket

    from tests.clients import ws_url

    refreshed = api.post("/api/auth/refresh", headers=_bearer(user["refresh_token"])).json()["access_token"]
    assert api.post("/api/auth/logout", headers=user["headers"]).status_code == 200
    http = api.get("/api/auth/me", headers=_bearer(refreshed)).json()["error"]
    sse = api.get("/api/jobs/job_x/events", headers=_bearer(refreshed))
    assert sse.status_code == 401 and sse.json()["error"]["message"] == http["message"] == "token has been revoked"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(live_server, "/ws"), header=[f"Authorization: Bearer {refreshed}"],
                                    timeout=10)
    assert refused.value.status_code == 401
    assert json.loads(refused.value.resp_body)["error"]["message"] == http["message"]
