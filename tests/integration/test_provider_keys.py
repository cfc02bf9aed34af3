"""Users' own provider keys: stored encrypted, shown masked, used by their jobs only, rotatable."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx
import psycopg2
import pytest
from cryptography.fernet import Fernet, InvalidToken

from services.keystore import dev_encryption_key
from tests.clients import wait_job
from tests.integration.conftest import Stack, register, settings_env, stack_with
from tests.support import ROOT

pytestmark = pytest.mark.usefixtures("worker")
BASE = "/api/users/me/provider-keys"


def a_key(prefix: str = "sk-user-") -> str:
    return prefix + uuid.uuid4().hex


def rows(database_url: str, sql: str, *params) -> list[tuple]:
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def vendor_call(fake_llm, marker: str) -> dict:
    """The request the fake vendor received for the prompt holding `marker`."""
    hits = [r for r in fake_llm.requests if marker in json.dumps(r["json"])]
    assert len(hits) == 1, f"{len(hits)} vendor calls carry {marker}"
    return hits[0]


def sent_credentials(request: dict) -> str:
    """Whatever credentials the SDK sent (Anthropic's SDKs use `x-api-key` or `Authorization`)."""
    return " ".join(request["headers"].get(h, "") for h in ("authorization", "x-api-key"))


def chat(api, user, provider, model, marker):
    r = api.post("/api/chat", headers=user["headers"], json={
        "provider": provider, "model": model, "messages": [{"role": "user", "content": f"[fake:tokens=3] {marker}"}]})
    return r


def test_store_read_masked_replace_delete(api, user, other_user):
    key = a_key()
    r = api.put(f"{BASE}/openai", headers=user["headers"], json={"apiKey": key})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["provider"] == "openai" and body["apiKeyLast4"] == key[-4:] and body["apiKey"] == "..." + key[-4:]
    assert key not in r.text and key[:-4] not in r.text
    for got in (api.get(f"{BASE}/openai", headers=user["headers"]), api.get(BASE, headers=user["headers"])):
        assert got.status_code == 200 and key[:-4] not in got.text and key[-4:] in got.text
    assert api.get(BASE, headers=user["headers"]).json()["providerKeys"][0]["provider"] == "openai"

    newer = a_key()
    r = api.put(f"{BASE}/openai", headers=user["headers"], json={"apiKey": newer})
    assert r.status_code == 200 and r.json()["apiKeyLast4"] == newer[-4:]
    assert r.json()["createdAt"] == body["createdAt"] and r.json()["updatedAt"] >= body["updatedAt"]

    # another user sees nothing of it and cannot delete it
    assert api.get(f"{BASE}/openai", headers=other_user["headers"]).status_code == 404
    assert api.get(BASE, headers=other_user["headers"]).json() == {"providerKeys": []}
    assert api.delete(f"{BASE}/openai", headers=other_user["headers"]).status_code == 404

    assert api.delete(f"{BASE}/openai", headers=user["headers"]).status_code == 204
    assert api.get(f"{BASE}/openai", headers=user["headers"]).status_code == 404
    assert api.delete(f"{BASE}/openai", headers=user["headers"]).status_code == 404


@pytest.mark.parametrize("provider,body,status,code", [
    ("demo", {"apiKey": "sk-12345678"}, 400, "unknown_provider"),
    ("nope", {"apiKey": "sk-12345678"}, 400, "unknown_provider"),
    ("openai", {"apiKey": "short"}, 422, "validation_error"),
    ("openai", {"apiKey": "sk with spaces 123"}, 422, "validation_error"),
    ("openai", {"apiKey": "sk-12345678", "baseUrl": "http://169.254.169.254/"}, 422, "validation_error"),
    ("openai", {}, 422, "validation_error"),
])
def test_bad_input_is_refused_and_stores_nothing(api, user, provider, body, status, code):
    r = api.put(f"{BASE}/{provider}", headers=user["headers"], json=body)
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    assert "sk-12345678" not in r.text
    assert api.get(BASE, headers=user["headers"]).json() == {"providerKeys": []}
    assert api.get(f"{BASE}/nope", headers=user["headers"]).status_code == 400
    assert api.get(BASE).status_code == 401


def test_plaintext_is_nowhere_in_the_database(api, user, database_url, settings):
    key = a_key()
    assert api.put(f"{BASE}/anthropic", headers=user["headers"], json={"apiKey": key}).status_code == 201
    (row,) = rows(database_url, "SELECT row_to_json(p)::text, p.ciphertext FROM provider_keys p "
                                "WHERE p.user_id = %s", user["user"]["id"])
    as_text, ciphertext = row
    assert key not in as_text and key[:-4] not in as_text
    assert key.encode() not in bytes(ciphertext)
    assert Fernet(dev_encryption_key(settings.jwt_secret_key)).decrypt(bytes(ciphertext)).decode() == key
    # nor in any other table's text (jobs, messages, users...)
    tables = [t for (t,) in rows(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    for table in tables:
        hits = rows(database_url, f'SELECT count(*) FROM "{table}" t WHERE row_to_json(t)::text LIKE %s',
                    f"%{key[:-4]}%")
        assert hits == [(0,)], table


@pytest.mark.parametrize("provider,model", [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")])
def test_a_job_uses_its_owners_key_and_others_use_the_servers(api, user, other_user, fake_llm, provider, model):
    key = a_key()
    assert api.put(f"{BASE}/{provider}", headers=user["headers"], json={"apiKey": key}).status_code == 201
    mine, theirs = f"mine-{uuid.uuid4().hex}", f"theirs-{uuid.uuid4().hex}"
    job_a = chat(api, user, provider, model, mine).json()
    job_b = chat(api, other_user, provider, model, theirs).json()
    for job, who in ((job_a, user), (job_b, other_user)):
        assert wait_job(api, job["id"], who["headers"])["status"] == "succeeded"
    server_key = "sk-fake" if provider == "openai" else "ak-fake"
    sent_mine = sent_credentials(vendor_call(fake_llm, mine))
    sent_theirs = sent_credentials(vendor_call(fake_llm, theirs))
    assert key in sent_mine and server_key not in sent_mine
    assert server_key in sent_theirs and key not in sent_theirs

    # after DELETE the owner's next job is back on the server's key
    assert api.delete(f"{BASE}/{provider}", headers=user["headers"]).status_code == 204
    again = f"again-{uuid.uuid4().hex}"
    job = chat(api, user, provider, model, again).json()
    assert wait_job(api, job["id"], user["headers"])["status"] == "succeeded"
    assert server_key in sent_credentials(vendor_call(fake_llm, again))


def test_key_is_never_logged(api, user, log_dir):
    key = a_key()
    assert api.put(f"{BASE}/openai", headers=user["headers"], json={"apiKey": key}).status_code == 201
    marker = f"log-{uuid.uuid4().hex}"
    job = chat(api, user, "openai", "gpt-4o-mini", marker).json()
    assert wait_job(api, job["id"], user["headers"])["status"] == "succeeded"
    for path in log_dir.glob("*.log"):
        assert key[:-4] not in path.read_text(errors="replace"), path.name


def rotate(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "scripts.rotate_keys", "--batch-size", "2"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_rotation_reencrypts_everything_and_a_stack_on_the_new_key_alone_works(
        api, settings, database_url, stack_env, redis_prefix, log_dir, fake_llm):
    owner, stranger = register(api), register(api)
    keys = {"openai": a_key(), "anthropic": a_key("ak-user-")}
    for provider, key in keys.items():
        assert api.put(f"{BASE}/{provider}", headers=owner["headers"], json={"apiKey": key}).status_code == 201
    old_key = dev_encryption_key(settings.jwt_secret_key)
    new_key = Fernet.generate_key().decode()
    before = dict(rows(database_url, "SELECT provider, ciphertext FROM provider_keys WHERE user_id = %s",
                       owner["user"]["id"]))
    total = rows(database_url, "SELECT count(*) FROM provider_keys")[0][0]

    counts = rotate(settings_env(settings, ENCRYPTION_KEY=f"{new_key},{old_key}"))
    assert counts == {"rotated": total, "failed": 0}
    after = dict(rows(database_url, "SELECT provider, ciphertext FROM provider_keys WHERE user_id = %s",
                      owner["user"]["id"]))
    for provider, key in keys.items():
        assert bytes(after[provider]) != bytes(before[provider])
        assert Fernet(new_key).decrypt(bytes(after[provider])).decode() == key
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(bytes(after[provider]))
    assert rotate(settings_env(settings, ENCRYPTION_KEY=new_key)) == {"rotated": total, "failed": 0}  # repeatable
    # with a key list that opens nothing, nothing changes and the command says so
    bad = subprocess.run([sys.executable, "-m", "scripts.rotate_keys"], cwd=ROOT, capture_output=True, text=True,
                         env=settings_env(settings, ENCRYPTION_KEY=Fernet.generate_key().decode()), timeout=120)
    assert bad.returncode == 1 and json.loads(bad.stdout.strip().splitlines()[-1])["failed"] == total

    # A stack holding only the new key, with no server key for anthropic: the owner's key makes it usable
    env = stack_with(stack_env, redis_prefix, "rotated", ENCRYPTION_KEY=new_key, ANTHROPIC_API_KEY=None)
    with Stack("rotated", env, log_dir) as stack, httpx.Client(base_url=stack.url, timeout=30) as client:
        listed = client.get(BASE, headers=owner["headers"]).json()["providerKeys"]
        assert {k["provider"]: k["apiKeyLast4"] for k in listed} == {p: k[-4:] for p, k in keys.items()}
        models = {p["provider"] for p in client.get("/api/models", headers=owner["headers"]).json()["providers"]}
        assert "anthropic" in models
        assert "anthropic" not in {p["provider"] for p in
                                   client.get("/api/models", headers=stranger["headers"]).json()["providers"]}
        refused = chat(client, stranger, "anthropic", "claude-sonnet-4-5", "nope")
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_provider_or_model"
        for provider, model in (("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o-mini")):
            marker = f"rotated-{uuid.uuid4().hex}"
            r = chat(client, owner, provider, model, marker)
            assert r.status_code == 202, r.text
            assert wait_job(client, r.json()["id"], owner["headers"])["status"] == "succeeded"
            assert keys[provider] in sent_credentials(vendor_call(fake_llm, marker))
        # a key stored now is encrypted under the new key
        fresh = a_key()
        assert client.put(f"{BASE}/openai", headers=stranger["headers"], json={"apiKey": fresh}).status_code == 201
    (token,) = rows(database_url, "SELECT ciphertext FROM provider_keys WHERE user_id = %s", stranger["user"]["id"])[0]
    assert Fernet(new_key).decrypt(bytes(token)).decode() == fresh


def test_production_mode_refuses_to_start_without_an_encryption_key(settings):
    env = settings_env(settings, ENVIRONMENT="production", FLOWER_BASIC_AUTH="ops:a-long-secret",
                       ENCRYPTION_KEY="")
    out = subprocess.run([sys.executable, "-c", "from web import create_app; create_app()"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "ENCRYPTION_KEY must be set in production" in out.stderr
    env["ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    env["JWT_SECRET_KEY"] = "too-short"
    out = subprocess.run([sys.executable, "-m", "celery", "-A", "worker", "inspect", "ping", "--timeout", "1"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "JWT_SECRET_KEY must be set" in (out.stderr + out.stdout)
