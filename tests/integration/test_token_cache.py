"""A verified access token is remembered per process, and still refused once it expires, once its
session ends, or under another secret."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

from flask_jwt_extended import create_access_token

from realtime.sessions import new_session_claims
from tests.integration.conftest import STRONG_PASSWORD
from web import create_app


def _registered(client) -> dict:
    name = f"u{uuid.uuid4().hex[:12]}"
    r = client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                "password": STRONG_PASSWORD})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _me(client, token: str):
    return client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_a_remembered_token_is_refused_once_it_expires(app):
    client = app.test_client()
    user = _registered(client)
    with app.app_context():
        token = create_access_token(user["user"]["id"], expires_delta=timedelta(seconds=2),
                                    additional_claims=new_session_claims())
    assert _me(client, token).status_code == 200
    assert _me(client, token).status_code == 200  # from the cache
    time.sleep(2.2)
    r = _me(client, token)
    assert r.status_code == 401 and r.get_json()["error"]["message"] == "token has expired"


def test_a_remembered_token_is_refused_after_logout(app):
    client = app.test_client()
    user = _registered(client)
    token = user["access_token"]
    assert _me(client, token).status_code == 200
    assert client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    r = _me(client, token)
    assert r.status_code == 401 and r.get_json()["error"]["message"] == "token has been revoked"


def test_a_token_remembered_under_one_secret_is_not_accepted_under_another(app, settings):
    client = app.test_client()
    token = _registered(client)["access_token"]
    assert _me(client, token).status_code == 200
    other = create_app(settings.model_copy(update={"jwt_secret_key": "another-secret-" + "y" * 40}))
    r = _me(other.test_client(), token)
    assert r.status_code == 401 and r.get_json()["error"]["message"] == "invalid token"
