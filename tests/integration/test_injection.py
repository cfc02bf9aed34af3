"""Classic SQL injection strings through every text parameter: no 500, nobody else's data, tables intact.

Every query goes through SQLAlchemy with bound parameters; this checks it from the outside, against
PostgreSQL, on query parameters, JSON fields, path segments and headers.
"""
from __future__ import annotations

from urllib.parse import quote

import psycopg2
import pytest

from tests.integration.conftest import STRONG_PASSWORD, register

PAYLOADS = [
    "' OR 1=1 --",
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "%' UNION SELECT id, password_hash FROM users --",
    "x' UNION SELECT NULL, NULL, NULL --",
    "admin'--",
    '" OR ""="',
    "1; DELETE FROM conversations",
    "\\'; SELECT pg_sleep(3); --",
    "\\",
    "%",
    "_",
    "' AND 1=CAST((SELECT password_hash FROM users LIMIT 1) AS int) --",
    "ü' OR 'ö'='ö' -- ✓",
    "SECRETOTHER' OR '1'='1",
]
SECRET = "SECRETOTHER"


def counts(database_url: str) -> dict[str, int]:
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            tables = [t for (t,) in cur.fetchall()]
            out = {}
            for t in tables:
                cur.execute(f'SELECT count(*) FROM "{t}"')
                out[t] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


@pytest.fixture()
def victim(api):
    """Another user whose data must never show up."""
    other = register(api)
    r = api.post("/api/conversations", headers=other["headers"], json={
        "id": f"conv_{SECRET.lower()}_{other['user']['id'][-8:]}", "title": f"{SECRET} title",
        "messages": [{"role": "user", "content": f"{SECRET} message"}]})
    assert r.status_code == 201
    return other, r.json()["id"]


def requests_for(p: str, conv_id: str):
    """(method, path, kwargs) for every text input the API takes, carrying payload `p`."""
    q = quote(p, safe="")
    yield "GET", "/api/search", {"params": {"query": p}}
    yield "GET", "/api/search", {"params": {"query": "hello", "model": p}}
    yield "GET", "/api/search", {"params": {"query": "hello", "date_from": p}}
    yield "GET", "/api/conversations", {"params": {"sort_by": p}}
    yield "GET", "/api/conversations", {"params": {"sort_order": p}}
    yield "GET", "/api/conversations", {"params": {"after": p}}
    yield "GET", "/api/conversations", {"params": {"page": p, "page_size": p}}
    yield "GET", "/api/conversations/paginated", {"params": {"sort_by": p, "sort_order": p}}
    yield "GET", f"/api/conversations/{q}", {}
    yield "PATCH", f"/api/conversations/{q}", {"json": {"title": "x"}}
    yield "DELETE", f"/api/conversations/{q}", {}
    yield "GET", f"/api/conversations/{q}/messages", {}
    yield "POST", f"/api/conversations/{q}/messages", {"json": {"role": "user", "content": "x"}}
    yield "POST", "/api/conversations", {"json": {"id": p, "title": "x"}}
    yield "POST", "/api/conversations", {"json": {"title": p, "model": p, "systemPrompt": p,
                                                  "messages": [{"role": "user", "content": p, "model": p}]}}
    yield "PATCH", f"/api/conversations/{conv_id}", {"json": {"title": p, "model": p, "systemPrompt": p}}
    yield "POST", f"/api/conversations/{conv_id}/messages", {"json": {"role": p, "content": p}}
    yield "POST", f"/api/conversations/{conv_id}/messages", {"json": {"role": "user", "content": p, "model": p}}
    yield "DELETE", "/api/conversations/batch", {"json": [p]}
    yield "DELETE", "/api/conversations/batch", {"json": {"ids": [p]}}
    yield "GET", "/api/jobs", {"params": {"status": p}}
    yield "GET", "/api/jobs", {"params": {"kind": p[:32]}}
    yield "GET", "/api/jobs", {"params": {"conversation_id": p}}
    yield "GET", f"/api/jobs/{q}", {}
    yield "POST", f"/api/jobs/{q}/cancel", {}
    yield "POST", "/api/chat", {"json": {"model": p, "messages": [{"role": "user", "content": "x"}]}}
    yield "POST", "/api/chat", {"json": {"provider": p, "messages": [{"role": "user", "content": "x"}]}}
    yield "POST", "/api/chat", {"json": {"conversationId": p, "messages": [{"role": "user", "content": "x"}]}}
    yield "GET", f"/api/users/me/provider-keys/{q}", {}
    yield "PUT", f"/api/users/me/provider-keys/{q}", {"json": {"apiKey": "sk-12345678"}}
    yield "GET", f"/api/batches/{q}", {}
    yield "GET", "/api/users/me/analytics", {"params": {"days": p}}


def test_injection_strings_change_nothing_and_leak_nothing(api, user, victim, database_url):
    other, other_conv = victim
    h = user["headers"]
    mine = api.post("/api/conversations", headers=h, json={"title": "mine"}).json()["id"]
    before = counts(database_url)
    created_titles = []
    for p in PAYLOADS:
        for method, path, kwargs in requests_for(p, mine):
            r = api.request(method, path, headers=h, **kwargs)
            where = f"{method} {path} {kwargs} -> {r.status_code} {r.text[:300]}"
            assert r.status_code < 500, where
            assert SECRET not in r.text.replace(p, ""), where  # echoing our own input back is fine
            if method == "POST" and path == "/api/conversations" and kwargs["json"]["title"] == p:
                assert r.status_code == 201, where
                created_titles.append((r.json()["id"], p))
        # login and register with the payload as username, email and password
        r = api.post("/api/auth/login", json={"username": p, "password": p})
        assert r.status_code in (401, 422, 429), (p, r.status_code, r.text)
        r = api.post("/api/auth/login", json={"username": other["user"]["username"] + p, "password": STRONG_PASSWORD})
        assert r.status_code in (401, 422, 429), (p, r.status_code, r.text)
        r = api.post("/api/auth/register", json={"username": p, "email": f"{p}@example.com", "password": p})
        assert r.status_code in (400, 409, 422, 429), (p, r.status_code, r.text)
        r = api.post("/api/chat", headers={**h, "Idempotency-Key": p.encode("ascii", "ignore").decode().strip() or "k"},
                     json={"model": p, "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code in (400, 422), (p, r.status_code, r.text)

    # stored verbatim: what was sent is what comes back
    for conv_id, p in created_titles:
        got = api.get(f"/api/conversations/{conv_id}", headers=h).json()
        assert got["title"] == p.strip() and got["systemPrompt"] == p and got["messages"][0]["content"] == p
    assert len(created_titles) == len(PAYLOADS)

    # nothing of the other user's changed, and every table is still there
    after = counts(database_url)
    assert set(after) == set(before)
    assert after["users"] == before["users"]
    got = api.get(f"/api/conversations/{other_conv}", headers=other["headers"])
    assert got.status_code == 200 and got.json()["title"] == f"{SECRET} title"
    assert api.get(f"/api/conversations/{other_conv}", headers=h).status_code == 404
    hits = api.get("/api/search", headers=other["headers"], params={"query": SECRET}).json()
    assert hits["count"] >= 1
    own = api.get("/api/search", headers=h, params={"query": SECRET}).json()
    assert own["count"] >= 1 and other_conv not in str(own)  # only the caller's own payload-titled rows
    assert all(f"{SECRET} title" != res["conversation"]["title"] for res in own["results"])
