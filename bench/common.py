"""Small helpers shared by the benchmark scripts."""
from __future__ import annotations

import httpx


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def register(api: httpx.Client, name: str) -> dict:
    r = api.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                             "password": "Bench!Passw0rd"})
    r.raise_for_status()
    token = r.json()["access_token"]
    return {"token": token, "headers": {"Authorization": f"Bearer {token}"}}
