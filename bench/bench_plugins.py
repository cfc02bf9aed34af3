"""What enabled plugins cost a request: the same writes against a stack without plugins and one with
the analytics plugin plus a plugin that sleeps 2 s on every event.

A third run enables the analytics plugin alone. Prints p50/p95/p99 latency of `POST /api/conversations` and `POST /api/conversations/<id>/messages`
(sequential, one client) for both stacks, started one after the other on the same machine.
"""
from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, register  # noqa: E402
from bench.stack import BenchStack  # noqa: E402

N = 300
PLUGINS = "plugins.analytics:AnalyticsPlugin,tests.plugin_fixtures:SleepingPlugin"


def measure(url: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"create": [], "message": []}
    with httpx.Client(base_url=url, timeout=30) as api:
        user = register(api, f"b{uuid.uuid4().hex[:10]}")
        for _ in range(20):  # warm-up
            api.post("/api/conversations", headers=user["headers"], json={"title": "warm"})
        for i in range(N):
            t = time.perf_counter()
            conv = api.post("/api/conversations", headers=user["headers"], json={"title": f"c{i}"})
            out["create"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            api.post(f"/api/conversations/{conv.json()['id']}/messages", headers=user["headers"],
                     json={"role": "user", "content": "hello"})
            out["message"].append((time.perf_counter() - t) * 1000)
    return out


def run(**env: str) -> dict[str, list[float]]:
    with BenchStack(**env) as stack:
        stack.start_web(workers=1)
        stack.start_worker("bench", 100)
        return measure(stack.url)


def main() -> None:
    plain = run(PLUGIN_ENTRY_POINTS="false")
    analytics = run(PLUGINS="plugins.analytics:AnalyticsPlugin", PLUGIN_ENTRY_POINTS="false")
    with_plugins = run(PLUGINS=PLUGINS, PLUGIN_ENTRY_POINTS="false", TEST_PLUGIN_SLEEP="2")
    print(f"{N} sequential requests each; ms p50 / p95 / p99")
    for name in ("create", "message"):
        for label, data in (("no plugins", plain), ("analytics only", analytics),
                            ("analytics + one sleeping 2 s", with_plugins)):
            v = data[name]
            print(f"  {name:8s} {label:26s} {pct(v, 50):6.1f} / {pct(v, 95):6.1f} / {pct(v, 99):6.1f}")


if __name__ == "__main__":
    main()
