"""Helpers for the OpenAI-compatible API tests: a user with a personal API key, and SDK clients on it."""
from __future__ import annotations

import time

import httpx
import openai

from tests.integration.conftest import register


def new_key(api: httpx.Client, headers: dict, name: str = "sdk", **extra) -> dict:
    r = api.post("/api/users/me/api-keys", json={"name": name, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def v1_user(api: httpx.Client) -> dict:
    user = register(api)
    user["key"] = new_key(api, user["headers"])["key"]
    return user


def client(live_server: str, key: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_server + "/v1", api_key=key, max_retries=0, timeout=60, **kwargs)


def async_client(live_server: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=live_server + "/v1", api_key=key, max_retries=0, timeout=60)


def poll(fetch, done, timeout: float = 30.0, every: float = 0.1):
    """Call `fetch` until `done(result)` or the timeout (the last result is returned either way)."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(every)


def tokens(n: int) -> str:
    return "".join(f"tok{i} " for i in range(n))
