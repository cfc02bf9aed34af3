"""The benchmark's own client: asyncio (aiohttp for our API and sockets, the openai SDK's AsyncOpenAI
for the vendor called directly and for the LiteLLM proxy), run in one or more processes so it is
never the bottleneck.

Every token the fake vendor sends carries its send time (`[fake:timestamps]`), so the delay of a
token is the client's receive time minus that, whichever path carried it. A pipeline event may
carry several tokens (coalesced): each timestamp in its text counts as one token.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

TERMINAL = ("completed", "failed", "cancelled")
SDK_PATHS = ("direct", "litellm")  # paths an OpenAI client streams from; "pipeline" is our API


@dataclass
class Tally:
    """What one client process saw: token delays in the steady window, counts and errors."""

    delays_ms: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    tokens: int = 0
    window_tokens: int = 0
    streams: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    loop_lag_ms: list[float] = field(default_factory=list)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def merge(self, other: "Tally") -> None:
        self.delays_ms += other.delays_ms
        self.ttft_ms += other.ttft_ms
        self.tokens += other.tokens
        self.window_tokens += other.window_tokens
        self.streams += other.streams
        self.loop_lag_ms += other.loop_lag_ms
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n


@dataclass(frozen=True)
class Plan:
    """One path at one size: `n` streams starting evenly over `ramp` s from `start_at` (epoch s)."""

    path: str  # "direct" | "litellm" | "pipeline"
    base: str  # our API (pipeline), the vendor's /v1 URL (direct) or the proxy's (litellm)
    token: str  # our access token (pipeline) or the API key of the SDK paths
    n: int
    tokens: int
    start_at: float
    ramp: float
    window: tuple[float, float]  # epoch seconds: tokens sent in it are the steady state
    first_index: int = 0


def _count(tally: Tally, plan: Plan, text: str, received: float) -> int:
    stamps = text.split()
    lo, hi = plan.window
    for stamp in stamps:
        sent = float(stamp)
        if lo <= sent < hi:
            tally.delays_ms.append((received - sent) * 1000)
            tally.window_tokens += 1
    return len(stamps)


async def _sdk_stream(plan: Plan, i: int, tally: Tally, client) -> None:
    t0 = time.time()
    got = 0
    stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
        {"role": "user", "content": f"[fake:tokens={plan.tokens}][fake:timestamps] d{i}"}])
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.time()
            if got == 0:
                tally.ttft_ms.append((now - t0) * 1000)
            got += _count(tally, plan, chunk.choices[0].delta.content, now)
    tally.tokens += got
    if got != plan.tokens:
        tally.error("wrong token count")


async def _pipeline(plan: Plan, i: int, tally: Tally, session: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {plan.token}"}
    t0 = time.time()
    async with session.post(plan.base + "/api/chat", headers=headers, json={
            "provider": "openai", "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": f"[fake:tokens={plan.tokens}][fake:timestamps] p{i}"}]}) as r:
        if r.status != 202:
            tally.error(f"submit {r.status}")
            return
        job = await r.json()
    got = await _follow(plan, tally, session, job["id"], headers, t0)
    tally.tokens += got
    if got != plan.tokens:
        tally.error("wrong token count")


async def _follow(plan: Plan, tally: Tally, session, job_id: str, headers: dict, t0: float) -> int:
    got, starts = 0, 0
    url = plan.base.replace("http", "ws", 1) + f"/ws/jobs/{job_id}"
    async with session.ws_connect(url, headers=headers, max_msg_size=0) as ws:
        async for msg in ws:
            event = orjson.loads(msg.data)
            kind = event["type"]
            if kind == "token":
                now = time.time()
                if got == 0:
                    tally.ttft_ms.append((now - t0) * 1000)
                got += _count(tally, plan, event["text"], now)
            elif kind == "started":
                starts += 1
                if event.get("restarted") or starts > 1:
                    tally.error("restarted")
            elif kind in TERMINAL:
                if kind != "completed":
                    tally.error(kind)
                break
    return got


async def _lag(tally: Tally, until: float) -> None:
    """The client's own event-loop lag: how late a 10 ms sleep wakes up."""
    while time.time() < until:
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        tally.loop_lag_ms.append((time.perf_counter() - t - 0.01) * 1000)


async def _run(plan: Plan) -> Tally:
    tally = Tally()
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=plan.token, base_url=plan.base, max_retries=0) if plan.path in SDK_PATHS else None
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def one(k: int) -> None:
            await asyncio.sleep(max(0.0, plan.start_at + k * plan.ramp / max(1, plan.n) - time.time()))
            try:
                if client is not None:
                    await _sdk_stream(plan, plan.first_index + k, tally, client)
                else:
                    await _pipeline(plan, plan.first_index + k, tally, session)
                tally.streams += 1
            except Exception as exc:  # counted, not raised: one failed stream must not hide the others
                tally.error(type(exc).__name__)

        lag = asyncio.ensure_future(_lag(tally, plan.window[1]))
        await asyncio.gather(*(one(k) for k in range(plan.n)))
        await lag
    if client is not None:
        await client.close()
    return tally


def run_plan(plan: Plan) -> Tally:
    """Entry point of a client process."""
    return asyncio.run(_run(plan))


async def _burst(base: str, token: str, n: int, tokens: int) -> Tally:
    tally = Tally()
    plan = Plan("pipeline", base, token, n, tokens, time.time(), 0.0, (0.0, 0.0))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def one(i: int) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(base + "/api/chat", headers=headers, json={
                    "provider": "demo", "messages": [{"role": "user", "content": f"[demo:tokens={tokens}] b{i}"}]}) as r:
                if r.status != 202:
                    tally.error(f"submit {r.status}")
                    return
                job = await r.json()
            tally.tokens += await _follow_demo(plan, tally, session, job["id"], headers)
            tally.streams += 1

        await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=False)
    return tally


async def _follow_demo(plan: Plan, tally: Tally, session, job_id: str, headers: dict) -> int:
    """Demo tokens carry no timestamps: count events and pieces of text instead."""
    got = 0
    url = plan.base.replace("http", "ws", 1) + f"/ws/jobs/{job_id}"
    async with session.ws_connect(url, headers=headers) as ws:
        async for msg in ws:
            event = orjson.loads(msg.data)
            if event["type"] == "token":
                got += len(event["text"].split())
            elif event["type"] == "started" and event.get("restarted"):
                tally.error("restarted")
            elif event["type"] in TERMINAL:
                if event["type"] != "completed":
                    tally.error(event["type"])
                break
    if got != plan.tokens:
        tally.error("wrong token count")
    return got


def run_burst(base: str, token: str, n: int, tokens: int) -> Tally:
    return asyncio.run(_burst(base, token, n, tokens))


@dataclass(frozen=True)
class Route:
    """One way to a completion: its name (`direct`, `litellm`, `pipeline`), base URL and key or token."""

    name: str
    base: str
    token: str


async def _ttft(paths: list[Route], rounds: int, tokens: int) -> dict[str, Tally]:
    """Time to first token, the paths taking turns one request at a time (the same noise for all)."""
    from openai import AsyncOpenAI

    tallies = {p.name: Tally() for p in paths}
    window = (0.0, 0.0)
    clients = {p.name: AsyncOpenAI(api_key=p.token, base_url=p.base, max_retries=0) for p in paths
               if p.name in SDK_PATHS}
    async with aiohttp.ClientSession() as session:
        for i in range(rounds):
            for p in paths:
                plan = Plan(p.name, p.base, p.token, 1, tokens, 0, 0, window)
                if p.name in SDK_PATHS:
                    await _sdk_stream(plan, i, tallies[p.name], clients[p.name])
                else:
                    await _pipeline(plan, i, tallies[p.name], session)
    for client in clients.values():
        await client.close()
    return tallies


def run_ttft(paths: list[Route], rounds: int, tokens: int) -> dict[str, Tally]:
    return asyncio.run(_ttft(paths, rounds, tokens))


async def _submissions(base: str, token: str, clients: int, seconds: float) -> tuple[list[float], int, int, float]:
    """`clients` loops posting `POST /api/chat` back to back: (latencies ms, accepted, refused, elapsed s)."""
    latencies: list[float] = []
    counts = [0, 0]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"provider": "demo", "messages": [{"role": "user", "content": "[demo:tokens=1] s"}]}
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                async with session.post(base + "/api/chat", headers=headers, json=body) as r:
                    await r.read()
                    counts[r.status != 202] += 1
                latencies.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
    return latencies, counts[0], counts[1], time.perf_counter() - t0


def run_submissions(base: str, token: str, clients: int, seconds: float) -> tuple[list[float], int, int, float]:
    return asyncio.run(_submissions(base, token, clients, seconds))
