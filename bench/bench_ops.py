"""What the operations layer costs a request: the same authenticated GET against two servers of one
stack, one with the rate limits on (two Redis round trips: the global budget) and one with them off
(`RATELIMIT_ENABLED=false`); both record HTTP metrics. Then the time of a `/metrics` scrape.

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
        off = stack.start_web(workers=1, RATELIMIT_ENABLED="false")
        on = stack.start_web(workers=1)
        with httpx.Client(base_url=on, timeout=30) as api:
            user = register(api, "benchops")
        path = "/api/conversations?page_size=1"
        for url in (off, on):
            timed_gets(url, user["headers"], 100, path)  # warm-up: connections, caches
        results: dict[str, list[float]] = {"limits off": [], "limits on": []}
        for _ in range(5):  # interleaved, so drift on a shared machine hits both alike
            results["limits off"] += timed_gets(off, user["headers"], args.requests // 5, path)
            results["limits on"] += timed_gets(on, user["headers"], args.requests // 5, path)
        scrapes = []
        for _ in range(50):
            t0 = time.perf_counter()
            r = httpx.get(on + "/metrics")
            scrapes.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    print(f"GET {path}, {args.requests} sequential requests per server, 1 gunicorn worker each")
    for name, values in results.items():
        print(f"  {name:<11} p50 {pct(values, 50):6.2f} ms   p99 {pct(values, 99):6.2f} ms")
    diff = pct(results["limits on"], 50) - pct(results["limits off"], 50)
    print(f"  rate limiting adds {diff:+.2f} ms at p50")
    print(f"/metrics scrape ({len(r.content)} bytes): p50 {pct(scrapes, 50):.2f} ms   p99 {pct(scrapes, 99):.2f} ms")


if __name__ == "__main__":
    main()
