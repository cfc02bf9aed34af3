"""Benchmark of the completion pipeline side by side with the vendor called directly (and with the
LiteLLM proxy, when installed from bench/requirements-peer.txt), in one run.

A private stack (one gunicorn gevent process, one Celery gevent worker process, PostgreSQL, Redis)
and the fake OpenAI server (its own process, 20 tokens/s, each token carrying its send time):

- burst: 300 `POST /api/chat` at once with the Procfile's default worker concurrency, each followed
  over its WebSocket: refused submissions, re-runs (`restarted`), wrong token counts, and
  `Too many connections` in the worker's log;
- (a) time to first token: the direct SDK call, the SDK through the proxy and `POST /api/chat` →
  WebSocket taking turns one request at a time;
- (b) `POST /api/chat` → 202 latency one at a time, then accepted/s from 32 concurrent clients;
- (c) the stream ladder: at each size the paths take turns (direct, proxy, pipeline, direct, …
  `--rounds` times), N streams each: token delay p50/p99 in the steady window, errors, and CPU per
  token per process from /proc/<pid>/stat.

The client is asyncio (aiohttp, AsyncOpenAI) in processes of at most --per-client streams, and
reports its own event-loop lag. Run: `.venv/bin/python bench/bench_jobs.py [--quick]`.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import jobs_client as jc  # noqa: E402
from bench.common import pct, register  # noqa: E402
from bench.litellm_peer import DEFAULT_EXECUTABLE, LiteLLMProxy  # noqa: E402
from bench.proc_cpu import children, snapshot  # noqa: E402
from bench.stack import REDIS_URL, BenchStack  # noqa: E402
from tests.support import BIN, free_port, wait_http_ok  # noqa: E402

STEADY = 5.0  # seconds of steady state measured at each ladder step
Row = tuple[str, ...]


def procfile_concurrency() -> int:
    return int(re.search(r"CELERY_CONCURRENCY:-(\d+)", (ROOT / "Procfile").read_text()).group(1))


def ms(values: list[float], p: float) -> str:
    return f"{pct(values, p):.1f}"


def errors_text(tally: jc.Tally) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(tally.errors.items())) or "0"


# ------------------------------------------------------------------ burst

def burst(stack: BenchStack, base: str, token: str, n: int = 300) -> list[Row]:
    concurrency = procfile_concurrency()
    worker = stack.start_worker("burst", concurrency=concurrency)
    try:
        tally = jc.run_burst(base, token, n, tokens=20)
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    return [("burst", f"{n} at once, worker -c {concurrency}", f"{tally.streams}/{n} streamed",
             f"errors {errors_text(tally)}", f"`Too many connections` in log: {log.count('Too many connections')}")]


# ------------------------------------------------------------------ (a), (b)

def ttft(routes: list[jc.Route], rounds: int) -> list[Row]:
    jc.run_ttft(routes, 3, 5)  # warm every path
    tallies = jc.run_ttft(routes, rounds, 5)
    direct = tallies["direct"]
    rows = []
    for name, tally in tallies.items():
        for p in (50, 95, 99):
            d, q = pct(direct.ttft_ms, p), pct(tally.ttft_ms, p)
            added = "" if name == "direct" else f"added {q - d:.1f} ms, ratio {q / d:.2f}"
            rows.append(("(a) TTFT", name, f"p{p} {q:.1f} ms", added))
        rows.append(("(a) errors", name, f"{rounds} rounds", errors_text(tally)))
    return rows


def submissions(base: str, token: str, seconds: float) -> list[Row]:
    jc.run_submissions(base, token, 1, 1.0)  # warm
    lat, ok, bad, _ = jc.run_submissions(base, token, 1, min(seconds, 5.0))
    rows = [("(b) POST /api/chat → 202, one at a time", f"p50 {ms(lat, 50)} ms", f"p99 {ms(lat, 99)} ms",
             f"{ok} accepted, {bad} refused")]
    lat, ok, bad, elapsed = jc.run_submissions(base, token, 32, seconds)
    rows.append(("(b) 32 concurrent clients", f"{ok / elapsed:.0f} accepted/s", f"p50 {ms(lat, 50)} ms",
                 f"p99 {ms(lat, 99)} ms", f"{bad} refused"))
    drain(base, token)
    return rows


def drain(base: str, token: str, timeout: float = 300) -> None:
    """Wait until the worker ran every job submitted so far, so the next measure starts on an idle stack."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.time() + timeout
    with httpx.Client(base_url=base, timeout=30) as api:
        while time.time() < deadline:
            left = sum(api.get("/api/jobs", params={"status": status, "page_size": 1}, headers=headers).json()["total"]
                       for status in ("queued", "running"))
            if left == 0:
                return
            time.sleep(1)


# ------------------------------------------------------------------ (c) ladder

def level(pool: ProcessPoolExecutor, clients: int, route: jc.Route, n: int,
          pids: dict[str, list[int]]) -> tuple[jc.Tally, dict[str, float]]:
    ramp = max(2.0, n / 40)  # arrivals at 40/s: the stream ladder measures streams, not a submission burst
    start = time.time() + 1.5
    window = (start + ramp + 1.0, start + ramp + 1.0 + STEADY)
    tokens = int((ramp + 1.0 + STEADY + 1.0) * 20)
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    plans = [jc.Plan(route.name, route.base, route.token, k, tokens, start, ramp, window, sum(share[:i]))
             for i, k in enumerate(share) if k]
    futures = [pool.submit(jc.run_plan, plan) for plan in plans]
    time.sleep(max(0.0, window[0] - time.time()))
    before = snapshot(pids)
    time.sleep(max(0.0, window[1] - time.time()))
    after = snapshot(pids)
    tally = jc.Tally()
    for f in futures:
        tally.merge(f.result())
    return tally, {name: after[name] - before[name] for name in pids}


SERVER = {"pipeline": ("web", "worker", "redis"), "litellm": ("litellm",), "direct": ()}


def ladder_row(path: str, n: int, rounds: int, tally: jc.Tally, cpu: dict[str, float]) -> Row:
    per = max(1, tally.window_tokens)
    cost = {k: v / per * 1e6 for k, v in cpu.items()}
    server = sum(cost[k] for k in SERVER[path] if k in cost)
    parts = " ".join(f"{k} {v:.0f}" for k, v in cost.items())
    return (f"(c) {path}", f"{n} streams × {rounds}",
            f"delay p50 {ms(tally.delays_ms, 50)} / p99 {ms(tally.delays_ms, 99)} ms",
            f"TTFT p50 {ms(tally.ttft_ms, 50)} ms", f"{tally.streams}/{n * rounds} ok, errors {errors_text(tally)}",
            f"server µs/token {server:.0f}" if SERVER[path] else "server µs/token —",
            f"µs/token: {parts}", f"client loop lag p99 {ms(tally.loop_lag_ms, 99)} ms")


def ladder(routes: list[jc.Route], levels: list[int], rounds: int, per_client: int,
           server_pids: dict[str, list[int]]) -> list[Row]:
    """At each size the paths take turns (A, B, C, A, B, C …) `rounds` times; each path's rounds are
    pooled, so noise of the shared machine falls on every path alike."""
    clients = max(1, math.ceil(max(levels) / per_client))
    rows: list[Row] = []
    with ProcessPoolExecutor(clients) as pool:
        list(pool.map(time.sleep, [0.1] * clients))  # start every client process before measuring
        pids = {**server_pids, "client": [p.pid for p in pool._processes.values()]}
        for n in levels:
            used = max(1, math.ceil(n / per_client))
            pooled = {r.name: (jc.Tally(), dict.fromkeys(pids, 0.0)) for r in routes}
            for _ in range(rounds):
                for route in routes:
                    tally, cpu = level(pool, used, route, n, pids)
                    pooled[route.name][0].merge(tally)
                    for k, v in cpu.items():
                        pooled[route.name][1][k] += v
            for name, (tally, cpu) in pooled.items():
                rows += shown([ladder_row(name, n, rounds, tally, cpu)])
    return rows


# ------------------------------------------------------------------ main

def shown(rows: list[Row]) -> list[Row]:
    """Print rows as they are measured (a long run that is cut short keeps what it measured)."""
    for row in rows:
        print(" | ".join(row), flush=True)
    return rows


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of (b)'s concurrent submissions")
    ap.add_argument("--levels", default="", help="comma-separated stream counts for (c)")
    ap.add_argument("--rounds", type=int, default=2, help="turns of each path at each size of (c)")
    ap.add_argument("--only", default="xabc", help="which parts to run: x (burst), a, b, c")
    ap.add_argument("--per-client", type=int, default=150, help="streams per client process")
    ap.add_argument("--rate-limits", action="store_true", help="keep the HTTP rate limits on (generous budgets)")
    ap.add_argument("--litellm", type=Path, default=DEFAULT_EXECUTABLE,
                    help="the LiteLLM proxy's `litellm` executable (a third path when it exists)")
    return ap.parse_args()


def main() -> None:
    args = arguments()
    levels = [int(x) for x in args.levels.split(",")] if args.levels else (
        [50, 100] if args.quick else [100, 200, 300, 400, 500])
    fake_port = free_port()
    fake = subprocess.Popen([str(BIN / "python"), "-m", "tests.fakes.llm_server", "--port", str(fake_port),
                             "--tokens-per-second", "20", "--gevent"], cwd=ROOT)
    fake_v1 = f"http://127.0.0.1:{fake_port}/v1"
    rows: list[Row] = []
    with contextlib.ExitStack() as running:
        running.callback(lambda: (fake.terminate(), fake.wait(10)))
        wait_http_ok(fake_v1 + "/models")
        env = {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": fake_v1, "DEMO_TOKENS_PER_SECOND": "10",
               "RATELIMIT_ENABLED": "true" if args.rate_limits else "false"}
        stack = running.enter_context(BenchStack(**env))
        base = stack.start_web(workers=1)
        with httpx.Client(base_url=base, timeout=30) as api:
            token = register(api, f"bench{int(time.time())}")["token"]
        if "x" in args.only:
            rows += shown(burst(stack, base, token))
        worker = stack.start_worker("bench", concurrency=1000)
        pids = {"web": children(stack.procs[0].pid), "worker": [worker.pid],
                "redis": [int(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])], "fake": [fake.pid]}
        routes = [jc.Route("direct", fake_v1, "bench")]
        if args.litellm.exists():
            proxy = running.enter_context(LiteLLMProxy(args.litellm, fake_v1))
            routes.append(jc.Route("litellm", proxy.url, proxy.key))
            pids["litellm"] = [proxy.proc.pid, *children(proxy.proc.pid)]
        else:
            print(f"no LiteLLM proxy at {args.litellm} (bench/requirements-peer.txt): two paths only", flush=True)
        routes.append(jc.Route("pipeline", base, token))
        if "a" in args.only:
            rows += shown(ttft(routes, 20 if args.quick else 100))
        if "b" in args.only:
            rows += shown(submissions(base, token, 5.0 if args.quick else args.duration))
        if "c" in args.only:
            rows += ladder(routes, levels, args.rounds, args.per_client, pids)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    for row in rows:
        print(" | ".join(row))


if __name__ == "__main__":
    main()
