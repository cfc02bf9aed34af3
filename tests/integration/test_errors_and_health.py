"""The error envelope everywhere, request ids, health and readiness."""
from __future__ import annotations

import json
import logging

import pytest

from tests.support import free_port


def assert_envelope(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["requestId"]
    assert "Traceback" not in r.text
    return err


def test_unknown_route_and_method(api, user):
    assert_envelope(api.get("/api/nope"), 404, "not_found")
    r = api.put("/api/auth/login", json={})
    assert_envelope(r, 405, "method_not_allowed")
    assert "POST" in r.headers["Allow"]


def test_invalid_json_wrong_type_and_too_large(api, user, settings):
    h = {**user["headers"], "Content-Type": "application/json"}
    assert_envelope(api.post("/api/conversations", content=b"{not json", headers=h), 400, "invalid_json")
    assert_envelope(api.post("/api/conversations", content=b"title=x",
                             headers={**user["headers"], "Content-Type": "application/x-www-form-urlencoded"}),
                    415, "unsupported_media_type")
    big = b'{"title": "' + b"x" * settings.max_content_length + b'"}'
    assert_envelope(api.post("/api/conversations", content=big, headers=h), 413, "payload_too_large")
    assert api.get("/api/conversations", headers=user["headers"]).json()["total"] == 0


def test_request_id_is_accepted_or_generated(api):
    r = api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    generated = api.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    hostile = api.get("/healthz", headers={"X-Request-ID": "bad id;drop"}).headers["X-Request-ID"]
    assert hostile != "bad id;drop" and len(hostile) == 32
    err = api.get("/api/nope", headers={"X-Request-ID": "trace-me"}).json()["error"]
    assert err["requestId"] == "trace-me"


def test_security_headers(api):
    r = api.get("/healthz")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        from observability import JsonFormatter

        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_unhandled_error_is_500_envelope_and_logged_with_request_id(settings):
    from web import create_app

    app = create_app(settings)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    collect = _Collect()
    logging.getLogger("web.errors").addHandler(collect)
    try:
        r = app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    finally:
        logging.getLogger("web.errors").removeHandler(collect)
    assert r.status_code == 500
    assert r.json == {"error": {"code": "internal_error", "message": "internal server error", "requestId": "req-500"}}
    assert "secret internals" not in r.get_data(as_text=True)
    logged = [e for e in collect.lines if e["msg"] == "unhandled error"]
    assert logged and logged[0]["request_id"] == "req-500" and "secret internals" in logged[0]["exc"]


def test_healthz_and_readyz(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.parametrize("what", ["redis", "database"])
def test_readyz_names_what_is_down(settings, what):
    from web import create_app

    closed = free_port()
    changes = ({"redis_url": f"redis://127.0.0.1:{closed}/0"} if what == "redis"
               else {"database_url": f"postgresql+psycopg2://postgres@127.0.0.1:{closed}/nope"})
    app = create_app(settings.model_copy(update=changes))
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    err = r.json["error"]
    assert err["code"] == "not_ready" and what in err["message"] and err["details"][what] == "down"
    other = "database" if what == "redis" else "redis"
    assert err["details"][other] == "ok"
