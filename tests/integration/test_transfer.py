"""NDJSON export and import: a round trip into another account gives identical data; import is idempotent."""
from __future__ import annotations

import json
import uuid

import httpx

from tests.integration.conftest import register

NDJSON = {"Content-Type": "application/x-ndjson"}


def rich_account(api, user) -> list[dict]:
    tag = uuid.uuid4().hex[:6]
    batch = [
        {"id": f"x-{tag}-1", "title": "Code <b>&</b> \"quotes\" 🚀", "model": "gpt-4", "systemPrompt": "Be terse.",
         "createdAt": 1_697_467_200_000, "updatedAt": 1_697_467_300_000,
         "messages": [{"role": "user", "content": "print('<script>')\n\\n %_ 日本語", "timestamp": 1_697_467_200_001},
                      {"role": "assistant", "content": "ok", "model": "gpt-4", "tokens": 12,
                       "timestamp": 1_697_467_200_001},
                      {"role": "system", "content": "", "timestamp": 1_697_467_200_000}]},
        {"id": f"x-{tag}-2", "title": "empty", "createdAt": 1_697_467_200_000, "updatedAt": 1_697_467_200_000},
    ] + [{"title": f"filler {i}", "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(250)]
    r = api.post("/api/conversations/batch", json=batch, headers=user["headers"])
    assert r.status_code == 202, r.text  # above the threshold: a job
    from tests.clients import wait_job

    assert wait_job(api, r.json()["id"], user["headers"])["status"] == "succeeded"
    return batch


def export(api, user) -> list[dict]:
    with api.stream("GET", "/api/conversations/export", headers=user["headers"]) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert "content-length" not in r.headers  # streamed, not built in memory
        text = r.read().decode()
    assert text.endswith("\n") or text == ""
    return [json.loads(line) for line in text.splitlines()]


def without_ids(lines: list[dict]) -> list[str]:
    def strip(line: dict) -> dict:
        return {**{k: v for k, v in line.items() if k != "id"},
                "messages": [{k: v for k, v in m.items() if k != "id"} for m in line["messages"]]}
    return sorted(json.dumps(strip(line), sort_keys=True, ensure_ascii=False) for line in lines)


def import_lines(api, user, lines: list[str]) -> httpx.Response:
    return api.post("/api/conversations/import", content="\n".join(lines) + "\n",
                    headers={**user["headers"], **NDJSON})


def test_round_trip_into_a_new_account(worker, api, user):
    rich_account(api, user)
    original = export(api, user)
    assert len(original) == 252
    first = next(line for line in original if line["title"].startswith("Code"))
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]  # stored order
    assert first["systemPrompt"] == "Be terse." and first["messages"][2]["tokens"] == 12

    newcomer = register(api)
    lines = [json.dumps(line, ensure_ascii=False) for line in original]
    report = import_lines(api, newcomer, lines).json()
    assert (report["created"], report["skipped"], report["rejected"]) == (252, 0, 0), report
    assert set(report["createdIds"]) == {line["id"] for line in original}
    copied = export(api, newcomer)
    assert without_ids(copied) == without_ids(original)
    assert {line["id"] for line in copied} == set(report["createdIds"].values())
    assert not {line["id"] for line in copied} & {line["id"] for line in original}  # ids are global
    assert export(api, user) == original  # the source account is untouched

    again = import_lines(api, newcomer, lines).json()
    assert (again["created"], again["skipped"], again["rejected"]) == (0, 252, 0)
    own = import_lines(api, user, lines).json()
    assert (own["created"], own["skipped"]) == (0, 252)
    assert len(export(api, newcomer)) == 252 and len(export(api, user)) == 252


def test_every_line_is_validated_and_reported(api, user):
    good = {"id": f"g-{uuid.uuid4().hex[:6]}", "title": "fine", "messages": [{"role": "user", "content": "x"}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "r1", "title": "", "messages": []}),
        "",
        json.dumps({"id": "r2", "messages": [{"role": "robot", "content": "?"}]}),
        json.dumps({"id": "r3", "title": "nul \u0000 inside"}),
        json.dumps(["an", "array"]),
        json.dumps({"id": "r4 has spaces"}),
        json.dumps({**good, "id": good["id"]}),  # the same conversation twice in one file
        json.dumps({"title": "no id: always new"}),
    ]
    r = import_lines(api, user, lines)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["created"] == 2 and report["skipped"] == 1 and report["rejected"] == 6
    assert [x["line"] for x in report["rejections"]] == [2, 3, 5, 6, 7, 8]
    assert [x["id"] for x in report["rejections"]] == [None, "r1", "r2", "r3", None, "r4 has spaces"]
    assert all(x["errors"] for x in report["rejections"])
    assert api.get("/api/conversations", headers=user["headers"]).json()["total"] == 2


def test_json_array_bodies_and_wrong_types(api, user):
    items = [{"id": f"a-{uuid.uuid4().hex[:6]}", "title": "from an array"}]
    r = api.post("/api/conversations/import", json=items, headers=user["headers"])
    assert r.status_code == 200 and r.json()["created"] == 1
    r = api.post("/api/conversations/import", content="x", headers={**user["headers"], "Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"]
    r = api.post("/api/conversations/import", json={"not": "a list"}, headers=user["headers"])
    assert r.status_code == 422
    r = api.post("/api/conversations/import", content="[1,", headers={**user["headers"],
                                                                      "Content-Type": "application/json"})
    assert r.status_code == 400


def test_exports_hold_only_the_callers_conversations(api, user, other_user):
    api.post("/api/conversations", json={"title": "private"}, headers=user["headers"])
    assert export(api, other_user) == []
    assert [line["title"] for line in export(api, user)] == ["private"]
    assert api.get("/api/conversations/export").status_code == 401
