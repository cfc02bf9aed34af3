"""The OpenAPI 3.1 document: complete, and true of real responses (checked here and by schemathesis)."""
from __future__ import annotations

import os
import re
import subprocess

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.integration.conftest import register
from tests.support import BIN, ROOT


@pytest.fixture(scope="module")
def doc(live_server):
    import httpx

    d = httpx.get(live_server + "/api/openapi.json").json()
    assert d["openapi"].startswith("3.1")
    return d


def check(doc: dict, path: str, method: str, response) -> None:
    """Validate a real response against the document's schema for that operation and status."""
    op = doc["paths"][path][method.lower()]
    assert str(response.status_code) in op["responses"], (path, method, response.status_code)
    content = op["responses"][str(response.status_code)].get("content")
    if content is None:
        assert not response.content
        return
    schema = content["application/json"]["schema"]
    registry = Registry().with_resource("urn:doc", Resource.from_contents(
        {"components": doc["components"]}, default_specification=DRAFT202012))
    rooted = {"$ref": "urn:doc#/components/schemas/" + schema["$ref"].rsplit("/", 1)[1]} if "$ref" in schema else schema
    if "$ref" not in schema:
        rooted = _rebase(schema)
    jsonschema.Draft202012Validator(rooted, registry=registry).validate(response.json())


def _rebase(node):
    if isinstance(node, dict):
        return {k: ("urn:doc" + v if k == "$ref" and v.startswith("#/") else _rebase(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def test_every_route_is_documented(app, doc):
    for rule in app.url_map.iter_rules():
        if rule.websocket or rule.endpoint in ("static", "docs.openapi_document"):
            continue
        if rule.endpoint.startswith("console."):  # HTML pages and their assets, not API operations
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"].get(path, {}), f"{method} {path} missing from the document"


def test_document_is_valid_openapi(doc):
    from openapi_spec_validator import validate

    validate(doc)


def test_real_responses_match_the_document(api, doc, worker):
    u = register(api)
    h = u["headers"]
    check(doc, "/healthz", "get", api.get("/healthz"))
    check(doc, "/readyz", "get", api.get("/readyz"))
    check(doc, "/api/auth/me", "get", api.get("/api/auth/me", headers=h))
    check(doc, "/api/auth/me", "get", api.get("/api/auth/me"))
    login = api.post("/api/auth/login", json={"username": u["user"]["username"], "password": "Str0ng!Passw0rd"})
    check(doc, "/api/auth/login", "post", login)
    check(doc, "/api/auth/login", "post", api.post("/api/auth/login", json={"username": "x"}))
    check(doc, "/api/auth/refresh", "post",
          api.post("/api/auth/refresh", headers={"Authorization": f"Bearer {u['refresh_token']}"}))
    conv = api.post("/api/conversations", json={"title": "t", "messages": [{"role": "user", "content": "hi"}]},
                    headers=h)
    check(doc, "/api/conversations", "post", conv)
    cid = conv.json()["id"]
    check(doc, "/api/conversations", "get", api.get("/api/conversations", headers=h))
    check(doc, "/api/conversations/{conversation_id}", "get", api.get(f"/api/conversations/{cid}", headers=h))
    check(doc, "/api/conversations/{conversation_id}", "patch",
          api.patch(f"/api/conversations/{cid}", json={"title": "u"}, headers=h))
    check(doc, "/api/conversations/{conversation_id}/messages", "post",
          api.post(f"/api/conversations/{cid}/messages", json={"role": "assistant", "content": "yo"}, headers=h))
    check(doc, "/api/conversations/{conversation_id}/messages", "get",
          api.get(f"/api/conversations/{cid}/messages", headers=h))
    job = api.post("/api/chat", json={"messages": [{"role": "user", "content": "[demo:tokens=3] x"}],
                                      "provider": "demo", "conversationId": cid}, headers=h)
    check(doc, "/api/chat", "post", job)
    from tests.clients import wait_job

    wait_job(api, job.json()["id"], h)
    check(doc, "/api/jobs/{job_id}", "get", api.get(f"/api/jobs/{job.json()['id']}", headers=h))
    check(doc, "/api/jobs", "get", api.get("/api/jobs", headers=h))
    check(doc, "/api/jobs/{job_id}/cancel", "post", api.post(f"/api/jobs/{job.json()['id']}/cancel", headers=h))
    check(doc, "/api/models", "get", api.get("/api/models", headers=h))
    check(doc, "/api/chat/ai", "post", api.post("/api/chat/ai", json={
        "messages": [{"role": "user", "content": "[demo:tokens=2] q"}], "provider": "demo"}, headers=h))
    check(doc, "/api/conversations/{conversation_id}", "delete", api.delete(f"/api/conversations/{cid}", headers=h))
    check(doc, "/api/conversations/{conversation_id}", "get", api.get(f"/api/conversations/{cid}", headers=h))
    check(doc, "/api/auth/logout", "post", api.post("/api/auth/logout", headers=h))


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api, live_server, worker):
    u = register(api)
    cmd = [str(BIN / "st"), "run", f"{live_server}/api/openapi.json",
           "--checks", "not_a_server_error,response_schema_conformance",
           "-H", f"Authorization: Bearer {u['access_token']}",
           "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"),
           "--exclude-path", "/api/auth/logout",           # would revoke the token mid-run
           "--exclude-path", "/api/chat/ai",               # waits for jobs: covered above
           "--exclude-path", "/api/jobs/{job_id}/events",  # an endless SSE stream by design
           "--generation-deterministic", "--request-timeout", "20", "--no-color"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
