"""Logs: JSON lines carrying the request id into the worker, and no secret in any line of the web
server's or the worker's output after a session of register, login, chat, refresh and logout."""
from __future__ import annotations

import json
import uuid

from observability import redact
from tests.clients import wait_job


def _lines(path) -> list[dict]:
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def test_request_id_is_returned_and_reaches_the_worker(api, worker, log_dir):
    name = f"l{uuid.uuid4().hex[:10]}"
    password = "L0g!" + uuid.uuid4().hex[:12]
    r = api.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password})
    token = r.json()["access_token"]
    rid = "req-" + uuid.uuid4().hex
    r = api.post("/api/chat", headers={"Authorization": f"Bearer {token}", "X-Request-ID": rid}, json={
        "provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "[fake:tokens=2] x"}]})
    assert r.status_code == 202 and r.headers["X-Request-ID"] == rid
    job_id = r.json()["id"]
    wait_job(api, job_id, {"Authorization": f"Bearer {token}"})
    assert api.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"] != \
        "bad id with spaces"
    generated = api.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32

    started = [e for e in _lines(worker.log_path) if e.get("msg", "").startswith("job started")
               and e.get("job_id") == job_id]
    assert started, "no 'job started' line for the job"
    line = started[0]
    assert line["request_id"] == rid and line["user_id"] and line["level"] == "INFO" and line["ts"].endswith("Z")


def test_no_secret_appears_in_any_log_line(api, worker, log_dir, stack_env):
    name = f"s{uuid.uuid4().hex[:10]}"
    password = "S3cret!" + uuid.uuid4().hex[:12]
    wrong = "Wr0ng!" + uuid.uuid4().hex[:12]
    r = api.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password})
    assert r.status_code == 201
    weak = "weakpass" + uuid.uuid4().hex[:6]
    assert api.post("/api/auth/register", json={"username": name + "w", "email": f"{name}w@example.com",
                                                "password": weak}).status_code == 400
    assert api.post("/api/auth/login", json={"username": name, "password": wrong}).status_code == 401
    r = api.post("/api/auth/login", json={"username": f"{name}@example.com", "password": password})
    tokens = r.json()
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    h = {"Authorization": f"Bearer {access}"}
    for provider, model in (("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")):
        r = api.post("/api/chat", headers=h, json={"provider": provider, "model": model, "messages": [
            {"role": "user", "content": "[fake:tokens=3] hi"}]})
        assert r.status_code == 202, r.text
        wait_job(api, r.json()["id"], h)
    new_access = api.post("/api/auth/refresh", headers={"Authorization": f"Bearer {refresh}"}).json()["access_token"]
    # Malformed bodies carrying secrets, and a token used after logout.
    assert api.post("/api/auth/login", content=f'{{"username": "{name}", "password": "{password}"',
                    headers={"Content-Type": "application/json"}).status_code in (400, 422)
    assert api.post("/api/auth/logout", headers=h, json={"refresh_token": refresh}).status_code == 200
    assert api.get("/api/auth/me", headers=h).status_code == 401
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {access}x"}).status_code in (401, 422)

    secrets = {"password": password, "wrong password": wrong, "weak password": weak, "access token": access,
               "refresh token": refresh, "refreshed token": new_access,
               "openai key": stack_env["OPENAI_API_KEY"], "anthropic key": stack_env["ANTHROPIC_API_KEY"],
               "jwt secret": stack_env["JWT_SECRET_KEY"]}
    logs = {p.name: p.read_text(errors="replace") for p in log_dir.glob("*.log")}
    assert {"web.log", "worker.log"} <= set(logs)
    for file, text in logs.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} found in {file}"


def test_redaction_of_what_a_library_might_log():
    line = ('POST {"username": "a", "password": "hunter2!X"} Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.'
            'eyJzdWIiOiJ1In0.c2lnbmF0dXJl key sk-proj-abc123 token=abcdef')
    out = redact(line)
    for secret in ("hunter2!X", "eyJhbGciOiJIUzI1NiJ9", "sk-proj-abc123", "abcdef"):
        assert secret not in out
    assert '"username": "a"' in out
