"""What the operations layer costs a request: the same authenticated GET against servers of one
stack with the rate limits off (`RATELIMIT_ENABLED=false`) and on, under each counting strategy
(the global budget: a hit, and a read for the headers); all record HTTP metrics. Then the time of
a `/metrics` scrape. The budget is 100,000/minute, so the moving window's list grows to every
request of the last minute: the strategy's worst case.

    .venv/bin/python bench/bench_ops.py [--requests 2000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, register  # noqa: E402
from bench.stack import BenchStack  # noqa: E402


def timed_gets(url: str, headers: dict, n: int, path: str) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get(path)
            out.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="requests per server, in 5 interleaved rounds")
    args = ap.parse_args()
    with BenchStack() as stack:
        budget = {"RATELIMIT_DEFAULT": "100000/minute"}
        servers = {"limits off": stack.start_web(workers=1, RATELIMIT_ENABLED="false")}
        for strategy in ("moving-window", "sliding-window-counter", "fixed-window"):
            servers[strategy] = stack.start_web(workers=1, RATELIMIT_STRATEGY=strategy, **budget)
        on = servers["moving-window"]
        with httpx.Client(base_url=on, timeout=30) as api:
            user = register(api, "benchops")
        path = "/api/conversations?page_size=1"
        for url in servers.values():
            timed_gets(url, user["headers"], 100, path)  # warm-up: connections, caches
        results: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(5):  # interleaved, so drift on a shared machine hits all alike
            for name, url in servers.items():
                results[name] += timed_gets(url, user["headers"], args.requests // 5, path)
        scrapes = []
        for _ in range(50):
            t0 = time.perf_counter()
            r = httpx.get(on + "/metrics")
            scrapes.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    print(f"GET {path}, {args.requests} sequential requests per server, 1 gunicorn worker each")
    base = pct(results["limits off"], 50)
    for name, values in results.items():
        extra = "" if name == "limits off" else f"   ({pct(values, 50) - base:+.2f} ms at p50)"
        print(f"  {name:<23} p50 {pct(values, 50):6.2f} ms   p99 {pct(values, 99):6.2f} ms{extra}")
    print(f"/metrics scrape ({len(r.content)} bytes): p50 {pct(scrapes, 50):.2f} ms   p99 {pct(scrapes, 99):.2f} ms")


if __name__ == "__main__":
    main()
