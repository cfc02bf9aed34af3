"""Foundation pieces that need no server: settings, password policy, error envelope, OpenAPI, lazy start."""
from __future__ import annotations

import json
import socket

import pytest
from cryptography.fernet import Fernet

from extensions.ext_settings import settings as settings_of
from settings import DEV_JWT_SECRET, Settings
from web.security import hash_password, password_problems, verify_password


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def app(tmp_path):
    """An app whose database and Redis do not exist: only requests that fail before using them work."""
    from web import create_app

    port = closed_port()
    return create_app(Settings(database_url=f"sqlite:///{tmp_path}/never.db", redis_url=f"redis://127.0.0.1:{port}/0"))


def test_password_rules_name_what_is_missing():
    assert password_problems("Str0ng!Passw0rd") == []
    assert password_problems("short") == ["at least 8 characters", "an uppercase letter", "a digit",
                                          "a special character"]
    assert password_problems("alllowercase1!") == ["an uppercase letter"]
    assert password_problems("ALLUPPER1!") == ["a lowercase letter"]
    assert password_problems("NoDigits!!") == ["a digit"]
    assert password_problems("NoSpecial12") == ["a special character"]


def test_password_hashing_round_trip():
    h = hash_password("Str0ng!Passw0rd")
    assert h.startswith("$argon2id$") and verify_password(h, "Str0ng!Passw0rd")
    assert not verify_password(h, "wrong") and not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "x")


def test_settings_read_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@127.0.0.1/db")
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "123")
    s = Settings()
    assert s.database_url.startswith("postgresql") and s.max_content_length == 123 and not s.is_sqlite
    assert Settings(database_url="sqlite:///x.db").is_sqlite


def test_production_refuses_weak_secrets():
    with pytest.raises(ValueError, match="JWT_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValueError, match="JWT_SECRET_KEY"):
        Settings(environment="production", jwt_secret_key="short")
    ok = Settings(environment="production", jwt_secret_key="k" * 40, flower_basic_auth="ops:long-secret",
                  encryption_key=Fernet.generate_key().decode(), ws_allowed_origins="https://chat.example")
    assert ok.jwt_secret_key != DEV_JWT_SECRET


@pytest.mark.parametrize("origins", ["*", "", " , ", "https://chat.example,*"])
def test_production_refuses_any_websocket_origin(origins):
    strong = dict(jwt_secret_key="k" * 40, flower_basic_auth="ops:long-secret",
                  encryption_key=Fernet.generate_key().decode())
    with pytest.raises(ValueError, match="WS_ALLOWED_ORIGINS"):
        Settings(environment="production", ws_allowed_origins=origins, **strong)
    assert Settings(environment="development", ws_allowed_origins=origins, **strong).ws_allowed_origins == origins
    ok = Settings(environment="production", ws_allowed_origins="https://a.example, https://b.example", **strong)
    assert ok.allowed_origins == ["https://a.example", "https://b.example"]


def test_creating_the_app_connects_to_nothing(app):
    # the database file was never created and Redis on a closed port was never dialled
    assert settings_of(app).database_url.endswith("never.db")
    import os

    assert not os.path.exists(settings_of(app).database_url.split("///", 1)[1])


def test_envelope_for_failures_before_any_storage(app):
    c = app.test_client()
    r = c.get("/nope")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found" and r.json["error"]["requestId"]
    r = c.get("/api/auth/register")
    assert r.status_code == 405 and r.json["error"]["code"] == "method_not_allowed"
    r = c.post("/api/auth/register", data="{bad", content_type="application/json")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_json"
    r = c.post("/api/auth/register", data="a=b", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    r = c.post("/api/auth/register", data=b'{"x": "' + b"y" * 2_000_000 + b'"}', content_type="application/json")
    assert r.status_code == 413 and r.json["error"]["code"] == "payload_too_large"
    r = c.post("/api/auth/register", json={"username": "ab", "email": "bad", "password": "x"})
    assert r.status_code == 422 and {tuple(d["loc"][:2]) for d in r.json["error"]["details"]} == {
        ("body", "username"), ("body", "email")}
    r = c.post("/api/auth/register", json={"username": "abc", "email": "a@example.com", "password": "weak"})
    assert r.status_code == 400 and r.json["error"]["code"] == "weak_password"


def test_storage_down_is_503_not_500(app):
    r = app.test_client().get("/api/auth/me", headers={"Authorization": "Bearer x.y.z"})
    assert r.status_code == 401  # a malformed token is refused before any storage is asked
    from flask_jwt_extended import create_access_token

    with app.app_context():
        token = create_access_token(identity="user_x")
    r = app.test_client().get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.json["error"]["code"] == "service_unavailable"


def test_openapi_document_builds_offline(app):
    doc = app.test_client().get("/api/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    assert {"/api/auth/register", "/api/conversations", "/api/chat", "/api/jobs/{job_id}"} <= set(doc["paths"])
    register = doc["paths"]["/api/auth/register"]["post"]
    assert "security" not in register and {"201", "400", "409", "422"} <= set(register["responses"])
    assert doc["paths"]["/api/conversations"]["get"]["security"] == [{"bearerAuth": []}]


def test_access_log_line_and_setting(tmp_path, caplog):
    import logging

    from web import create_app

    def lines(access_log: bool) -> list[logging.LogRecord]:
        app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'never.db'}", redis_url="redis://127.0.0.1:1/0",
                                  access_log=access_log, ratelimit_enabled=False))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="access"):
            assert app.test_client().get("/api/nope/x", headers={"X-Request-ID": "rid-1"}).status_code == 404
        return [r for r in caplog.records if r.name == "access"]

    (record,) = lines(True)
    assert record.fields["method"] == "GET" and record.fields["status"] == 404
    assert record.fields["route"] == "<unmatched>" and record.fields["request_id"] == "rid-1"
    from observability import JsonFormatter

    entry = json.loads(JsonFormatter().format(record))
    assert entry["logger"] == "access" and entry["status"] == 404 and entry["duration_ms"] >= 0
    assert lines(False) == []
