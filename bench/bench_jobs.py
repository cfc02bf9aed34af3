"""Benchmark of the completion pipeline against the fake OpenAI server at a fixed token rate.

(a) time to first token and total time, POST /api/chat → WebSocket, against calling the fake server
    directly with the same SDK: the overhead the pipeline adds at p50/p95/p99;
(b) submissions per second accepted (202) for --duration seconds;
(c) concurrent streams one worker process carries at 20 tokens/s before the p99 token delay
    (client receive time − the fake server's send time, carried in each token) exceeds 100 ms.

Prints a table. Run: `.venv/bin/python bench/bench_jobs.py [--quick]`.
"""
from __future__ import annotations

from gevent import monkey

# The client side runs on greenlets: hundreds of OS threads queueing for the GIL would stamp
# tokens late and measure the benchmark client instead of the system.
monkey.patch_all()

import argparse  # noqa: E402
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import websocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import pct, register  # noqa: E402
from bench.stack import BenchStack  # noqa: E402
from tests.support import BIN, free_port, wait_http_ok  # noqa: E402


def stream_job(base: str, job_id: str, token: str, on_token=None) -> tuple[float | None, float]:
    """Returns (time of first token, time of terminal event), both time.perf_counter()."""
    ws = websocket.create_connection(base.replace("http", "ws", 1) + f"/ws/jobs/{job_id}", timeout=120,
                                     header=[f"Authorization: Bearer {token}"])
    first = None
    try:
        while True:
            event = json.loads(ws.recv())
            now = time.perf_counter()
            if event["type"] == "token":
                if first is None:
                    first = now
                if on_token is not None:
                    on_token(event["text"], time.time())
            if event["type"] in ("completed", "failed", "cancelled"):
                return first, now
    finally:
        ws.close()


# ------------------------------------------------------------------ (a) overhead

def measure_direct(fake_url: str, n: int, tokens: int) -> tuple[list[float], list[float]]:
    from openai import OpenAI

    client = OpenAI(api_key="bench", base_url=fake_url + "/v1", max_retries=0)
    ttft, total = [], []
    for i in range(n):
        t0 = time.perf_counter()
        first = None
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
            {"role": "user", "content": f"[fake:tokens={tokens}] direct {i}"}])
        for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        total.append(time.perf_counter() - t0)
        ttft.append(first - t0)
    return ttft, total


def measure_pipeline(base: str, user: dict, n: int, tokens: int) -> tuple[list[float], list[float]]:
    ttft, total = [], []
    with httpx.Client(base_url=base, timeout=30) as api:
        for i in range(n):
            t0 = time.perf_counter()
            r = api.post("/api/chat", headers=user["headers"], json={
                "provider": "openai", "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"[fake:tokens={tokens}] pipeline {i}"}]})
            r.raise_for_status()
            first, end = stream_job(base, r.json()["id"], user["token"])
            ttft.append(first - t0)
            total.append(end - t0)
    return ttft, total


# ------------------------------------------------------------------ (b) submissions/s

def measure_submissions(base: str, user: dict, seconds: float, clients: int) -> tuple[int, int, float]:
    ok = errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        nonlocal ok, errors
        with httpx.Client(base_url=base, timeout=30) as api:
            while time.perf_counter() < deadline:
                r = api.post("/api/chat", headers=user["headers"], json={
                    "provider": "demo", "messages": [{"role": "user", "content": "[demo:tokens=1] s"}]})
                with lock:
                    if r.status_code == 202:
                        ok += 1
                    else:
                        errors += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok, errors, time.perf_counter() - t0


# ------------------------------------------------------------------ (c) concurrent streams

def measure_streams(base: str, user: dict, n: int, tokens: int, ramp: float) -> tuple[float, float, int]:
    """n clients each submit a job and follow it; return (p50, p99 token delay in ms, streams).

    Clients arrive evenly over `ramp` seconds; delays are taken in the steady state, once all n
    streams run at once (tokens sent from ramp + 1 s on). The delay of a token is the client's
    receive time minus the fake vendor's send time, which the token carries.
    """
    delays: list[float] = []
    lock = threading.Lock()
    t0 = time.time()
    steady_from = t0 + ramp + 1.0

    def one(i: int) -> bool:
        time.sleep(i * ramp / n)
        with httpx.Client(base_url=base, timeout=60) as api:
            r = api.post("/api/chat", headers=user["headers"], json={
                "provider": "openai", "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"[fake:tokens={tokens}][fake:timestamps] s{i}"}]})
            r.raise_for_status()
        mine: list[float] = []

        def on_token(text: str, received: float) -> None:
            sent = float(text.strip())
            if sent >= steady_from:
                mine.append((received - sent) * 1000)

        first, _end = stream_job(base, r.json()["id"], user["token"], on_token)
        with lock:
            delays.extend(mine)
        return first is not None

    with ThreadPoolExecutor(max_workers=n) as pool:
        done = sum(pool.map(one, range(n)))
    return pct(delays, 50), pct(delays, 99), done


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--levels", default="", help="comma-separated stream counts for (c)")
    ap.add_argument("--only", default="abc", help="which parts to run, e.g. `c`")
    args = ap.parse_args()
    n_overhead = 20 if args.quick else 100
    duration = 5.0 if args.quick else args.duration
    levels = [50, 100] if args.quick else [25, 50, 100, 250, 500, 750, 1000]
    if args.levels:
        levels = [int(x) for x in args.levels.split(",")]

    fake_port = free_port()
    fake = subprocess.Popen([str(BIN / "python"), "-m", "tests.fakes.llm_server", "--port", str(fake_port),
                             "--tokens-per-second", "20", "--gevent"], cwd=ROOT)
    fake_url = f"http://127.0.0.1:{fake_port}"
    rows: list[tuple[str, str]] = []
    try:
        wait_http_ok(fake_url + "/v1/models")
        with BenchStack(OPENAI_API_KEY="bench", OPENAI_BASE_URL=fake_url + "/v1") as stack:
            base = stack.start_web(workers=2)
            stack.start_worker("bench", concurrency=1200)
            with httpx.Client(base_url=base, timeout=30) as api:
                user = register(api, f"bench{int(time.time())}")

            if "a" in args.only:
                rows += overhead_rows(base, user, fake_url, n_overhead)
            if "b" in args.only:
                ok, errors, elapsed = measure_submissions(base, user, duration, clients=32)
                rows.append((f"(b) submissions accepted over {elapsed:.0f} s",
                             f"{ok / elapsed:.0f}/s ({errors} errors)"))
            if "c" in args.only:
                rows += stream_rows(base, user, levels)
    finally:
        fake.terminate()
        fake.wait(10)

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


def overhead_rows(base: str, user: dict, fake_url: str, n: int) -> list[tuple[str, str]]:
    measure_direct(fake_url, 3, 5)  # warm both paths: imports, connection pools
    measure_pipeline(base, user, 3, 5)
    d_ttft, d_total = measure_direct(fake_url, n, 5)
    p_ttft, p_total = measure_pipeline(base, user, n, 5)
    rows = []
    for label, direct, piped in (("TTFT", d_ttft, p_ttft), ("total", d_total, p_total)):
        for p in (50, 95, 99):
            rows.append((f"(a) {label} p{p}: direct / pipeline / added",
                         f"{pct(direct, p)*1000:.1f} / {pct(piped, p)*1000:.1f} / "
                         f"{(pct(piped, p) - pct(direct, p))*1000:.1f} ms"))
    return rows


def stream_rows(base: str, user: dict, levels: list[int]) -> list[tuple[str, str]]:
    rows = []
    carried = 0
    for n in levels:
        ramp = max(2.0, n / 100)
        p50, p99, done = measure_streams(base, user, n, tokens=int((ramp + 6) * 20), ramp=ramp)
        rows.append((f"(c) {n} concurrent streams @20 tok/s (arriving over {ramp:.0f} s): steady token delay p50 / p99",
                     f"{p50:.1f} / {p99:.1f} ms ({done}/{n} streamed)"))
        if p99 > 100 or done < n:
            break
        carried = n
    rows.append(("(c) streams one worker process carried with p99 ≤ 100 ms", f"{carried}"))
    return rows


if __name__ == "__main__":
    main()
