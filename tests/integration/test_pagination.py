"""Paginated, sorted conversation lists: every sort and page combination, cursors, bad input, no N+1."""
from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import event

from tests.integration.conftest import register

SORTS = list(itertools.product(["createdAt", "updatedAt", "title"], ["asc", "desc"]))
N = 23


@pytest.fixture(scope="module")
def owner(live_server):
    """A user with N conversations whose sort keys tie in groups (so only the id tells them apart)."""
    import httpx

    with httpx.Client(base_url=live_server, timeout=30) as api:
        user = register(api)
        batch = [{"id": f"p{uuid.uuid4().hex[:6]}-{i:02d}", "title": ["Beta", "alpha", "Gamma"][i % 3],
                  "createdAt": 1_000 + i // 4, "updatedAt": 5_000 - i // 5,
                  "messages": [{"role": "user", "content": f"q{i}.{j}", "timestamp": 100 + j} for j in range(i % 4)]}
                 for i in range(N)]
        r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
        assert r.status_code == 201, r.text
        user["conversations"] = r.json()["conversations"]
        yield user


def expected_order(convs: list[dict], sort_by: str, sort_order: str, titles_in_db_order: list[str]) -> list[str]:
    rank = {t: i for i, t in enumerate(titles_in_db_order)}
    key = (lambda c: (rank[c["title"]], c["id"])) if sort_by == "title" else (lambda c: (c[sort_by], c["id"]))
    return [c["id"] for c in sorted(convs, key=key, reverse=sort_order == "desc")]


def title_collation_order(api, user) -> list[str]:
    """The database's own order of the three titles (collations differ on case)."""
    body = api.get("/api/conversations", params={"sort_by": "title", "sort_order": "asc", "page_size": 100},
                   headers=user["headers"]).json()
    return list(dict.fromkeys(c["title"] for c in body["conversations"]))


@pytest.mark.parametrize("path", ["/api/conversations", "/api/conversations/paginated"])
@pytest.mark.parametrize("sort_by, sort_order", SORTS)
@pytest.mark.parametrize("page_size", [1, 5, 23, 100])
def test_pages_cover_everything_once_in_order(api, owner, path, sort_by, sort_order, page_size):
    want = expected_order(owner["conversations"], sort_by, sort_order, title_collation_order(api, owner))
    params = {"sort_by": sort_by, "sort_order": sort_order, "page_size": page_size}
    by_page, page = [], 1
    while True:
        body = api.get(path, params={**params, "page": page}, headers=owner["headers"]).json()
        assert body["page"] == page and body["page_size"] == page_size and body["total"] == N
        assert body["total_pages"] == -(-N // page_size)
        if not body["conversations"]:
            break
        by_page += [c["id"] for c in body["conversations"]]
        page += 1
    assert by_page == want
    assert page - 1 == body["total_pages"]
    by_cursor, after = [], None
    while True:
        body = api.get(path, params={**params, **({"after": after} if after else {})}, headers=owner["headers"]).json()
        assert body["page"] == (None if after else 1) and body["total"] == N
        by_cursor += [c["id"] for c in body["conversations"]]
        after = body["next_cursor"]
        if after is None:
            break
    assert by_cursor == want


def test_summaries_carry_message_count_and_last_message(api, owner):
    body = api.get("/api/conversations", params={"page_size": 100}, headers=owner["headers"]).json()
    for c in body["conversations"]:
        i = int(c["id"].rsplit("-", 1)[1])
        assert c["messageCount"] == i % 4
        assert (c["lastMessage"] or {}).get("content") == (f"q{i}.{i % 4 - 1}" if i % 4 else None)


@pytest.mark.parametrize("params", [
    {"page": 0}, {"page": -1}, {"page": "two"}, {"page_size": 0}, {"page_size": 101}, {"sort_by": "id"},
    {"sort_by": "created_at"}, {"sort_order": "up"}, {"after": "not-a-cursor"}, {"after": "W10"},
])
def test_invalid_values_are_422(api, owner, params):
    r = api.get("/api/conversations/paginated", params=params, headers=owner["headers"])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


def test_a_cursor_only_fits_its_own_order(api, owner):
    body = api.get("/api/conversations", params={"page_size": 2}, headers=owner["headers"]).json()
    r = api.get("/api/conversations", params={"page_size": 2, "after": body["next_cursor"], "sort_by": "title"},
                headers=owner["headers"])
    assert r.status_code == 422 and "sort_by" in r.json()["error"]["message"]


def test_another_users_list_is_empty(api, owner):
    stranger = register(api)
    body = api.get("/api/conversations", headers=stranger["headers"]).json()
    assert body["total"] == 0 and body["conversations"] == [] and body["next_cursor"] is None


def test_a_page_costs_the_same_statements_whatever_its_size(app, owner):
    """No N+1: counts and last messages for a page come from one query, not one per conversation."""
    from extensions.ext_cache import response_cache
    from extensions.ext_database import database
    from models.db import db

    statements: list[str] = []
    engine = database(app).engine

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    client = app.test_client()
    costs = {}
    event.listen(engine, "before_cursor_execute", count)
    try:
        for size in (2, 20, 100):
            with app.app_context():
                response_cache().invalidate({owner["user"]["id"]: {"content", "membership"}})  # measure a cache miss
                db.session.remove()
            statements.clear()
            r = client.get(f"/api/conversations?page_size={size}", headers=owner["headers"])
            assert r.status_code == 200 and len(r.get_json()["conversations"]) == min(size, N)
            costs[size] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert costs[2] == costs[20] == costs[100] <= 4, costs
