"""Benchmark of search and list at scale: one user with 100k conversations and 1M messages in PostgreSQL.

Generates the data with COPY (the trigram indexes are built after loading, as a bulk import
would), then measures through a real gunicorn server, sequentially, at p50/p95:

- search (`GET /api/search`) for a rare word, a common word, a title word and a string with LIKE
  wildcards, against the same predicate run as an unindexed ILIKE scan (bitmap scans disabled);
- list (`GET /api/conversations`): the first page, a deep page by offset and the same page by
  cursor, each on a full cache miss (as after a new conversation: page and count), a page miss
  (as after a new message: the count stays cached) and a cache hit;
- the NDJSON export of everything: time, size and the web process's peak memory.

Run: `.venv/bin/python bench/bench_conversations.py [--conversations 100000 --messages-per 10]`.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import string
import sys
import time
from pathlib import Path

import httpx
import psycopg2
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import pct, register  # noqa: E402
from bench.stack import REDIS_URL, BenchStack  # noqa: E402

NEEDLES = {"rare": ("zebraquartz", 20), "common": ("mediumterm", 5_000), "wildcards": ("100%_done", 10)}
TITLE_NEEDLE = ("quarterly-report", 50)
BASE_TS = 1_700_000_000_000


def vocabulary(rng: random.Random, n: int = 3_000) -> list[str]:
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(n)]


def generate(dsn: str, user_id: str, conversations: int, per: int, seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    total_messages = conversations * per
    needle_rows = {word: set(rng.sample(range(total_messages), count)) for word, count in NEEDLES.values()}
    title_rows = set(rng.sample(range(conversations), TITLE_NEEDLE[1]))
    timings: dict[str, float] = {}
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP INDEX ix_messages_content_trgm; DROP INDEX ix_conversations_title_trgm")

    t0 = time.perf_counter()
    buf = io.StringIO()
    for i in range(conversations):
        title = " ".join(rng.choices(words, k=4)) + (f" {TITLE_NEEDLE[0]}" if i in title_rows else "")
        created = BASE_TS + i * 1_000
        buf.write(f"bc{i}\t{user_id}\t{title}\tgpt-4\t{created}\t{created + rng.randint(0, 10**9)}\n")
    buf.seek(0)
    cur.copy_expert("COPY conversations (id, user_id, title, model, created_at, updated_at) FROM STDIN", buf)
    m = 0
    for start in range(0, conversations, 10_000):
        buf = io.StringIO()
        for i in range(start, min(start + 10_000, conversations)):
            for j in range(per):
                text = " ".join(rng.choices(words, k=12))
                for word, rows in needle_rows.items():
                    if m in rows:
                        text += " " + word
                role = "user" if j % 2 == 0 else "assistant"
                ts = BASE_TS + i * 1_000 + j
                buf.write(f"bm{m}\t{j}\tbc{i}\t{role}\t{text}\tgpt-4\t{len(text) // 4}\t{ts}\t{ts}\n")
                m += 1
        buf.seek(0)
        cur.copy_expert("COPY messages (id, seq, conversation_id, role, content, model, tokens, timestamp, "
                        "created_at) FROM STDIN", buf)
    timings["load (COPY)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cur.execute("CREATE INDEX ix_conversations_title_trgm ON conversations USING gin (title gin_trgm_ops)")
    cur.execute("CREATE INDEX ix_messages_content_trgm ON messages USING gin (content gin_trgm_ops)")
    timings["trigram index build"] = time.perf_counter() - t0
    cur.execute("VACUUM ANALYZE conversations")
    cur.execute("VACUUM ANALYZE messages")
    conn.close()
    return timings


def timed(fn, n: int, warmup: int = 5) -> list[float]:
    """`n` timings in ms, after `warmup` untimed calls (so one measure does not pay another's cold cache)."""
    return interleaved([fn], n, warmup)[0]


def interleaved(fns: list, n: int, warmup: int = 5) -> list[list[float]]:
    """`n` timings in ms of each function, taken in turns after `warmup` untimed rounds."""
    out: list[list[float]] = [[] for _ in fns]
    for i in range(warmup + n):
        for fn, samples in zip(fns, out):
            t0 = time.perf_counter()
            fn()
            if i >= warmup:
                samples.append((time.perf_counter() - t0) * 1000)
    return out


def row(name: str, samples: list[float], target: str = "") -> None:
    print(f"| {name} | {pct(samples, 50):.1f} | {pct(samples, 95):.1f} | {len(samples)} | {target} |", flush=True)


def unindexed_scan_sql() -> str:
    """The search predicate of `services/search.py` for messages, as an ILIKE scan would run it."""
    return ("SELECT count(DISTINCT m.conversation_id) FROM messages m JOIN conversations c "
            "ON c.id = m.conversation_id WHERE c.user_id = %s AND m.content ILIKE %s ESCAPE '\\'")


def peak_rss_kib(web_pid: int) -> int:
    """Highest VmHWM among the gunicorn master's worker processes."""
    peak = 0
    for child in Path(f"/proc/{web_pid}/task/{web_pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--messages-per", type=int, default=10)
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    from services.search import like_pattern

    with BenchStack(DB_POOL_SIZE="5", DB_MAX_OVERFLOW="5") as stack:
        base = stack.start_web(workers=1)
        web_pid = stack.procs[-1].pid
        api = httpx.Client(base_url=base, timeout=120)
        user = register(api, "bench_conv")
        user_id = api.get("/api/auth/me", headers=user["headers"]).json()["id"]
        h = user["headers"]
        timings = generate(stack.database_url.replace("postgresql+psycopg2", "postgresql"), user_id,
                           args.conversations, args.messages_per)
        n_msgs = args.conversations * args.messages_per
        print(f"\n{args.conversations:,} conversations, {n_msgs:,} messages for one user; "
              f"{os.cpu_count()} CPUs; server: 1 gunicorn gevent worker")
        for k, v in timings.items():
            print(f"- {k}: {v:.1f} s")
        r = redis.Redis.from_url(REDIS_URL)
        content_key = f"{stack.prefix}cache:ver:content:{user_id}"
        membership_key = f"{stack.prefix}cache:ver:membership:{user_id}"

        print("\n| measure | p50 ms | p95 ms | n | target |\n| --- | --- | --- | --- | --- |")
        pg = psycopg2.connect(stack.database_url.replace("postgresql+psycopg2", "postgresql"))
        pg.autocommit = True
        cur = pg.cursor()
        for label, (word, count) in [*NEEDLES.items(), ("title", TITLE_NEEDLE)]:
            got = api.get("/api/search", params={"query": word}, headers=h).json()["count"]
            assert got >= min(count, 1), (word, got)
            row(f"search `{word}` ({label}, {got} hits), API", timed(
                lambda w=word: api.get("/api/search", params={"query": w}, headers=h).raise_for_status(),
                args.reps), "p95 ≤ 50")
        cur.execute("SET enable_bitmapscan = off")
        for label, (word, _count) in NEEDLES.items():
            row(f"baseline: unindexed ILIKE scan of messages, `{word}` (SQL only)", timed(
                lambda w=word: cur.execute(unindexed_scan_sql(), (user_id, like_pattern(w))), 5, warmup=1))
        cur.execute("RESET enable_bitmapscan")

        deep_page = args.conversations // 20 - 1
        cursor_params = {"after": _cursor_before(api, h, deep_page)}

        def listing(params: dict, drop: tuple[str, ...]):
            def call() -> None:
                if drop:
                    r.delete(*drop)
                api.get("/api/conversations", params=params, headers=h).raise_for_status()
            return call

        # A message or a finished chat replaces only the content token (the count stays cached);
        # creating or deleting a conversation replaces both. The misses take turns, so machine noise
        # and cache warmth fall on all of them alike; hits come after (a miss's drop would spoil them).
        pages = [("list first page", {}, "p95 ≤ 20"), (f"list page {deep_page} by offset", {"page": deep_page}, ""),
                 (f"list page {deep_page} by cursor", cursor_params, "p95 ≤ 20")]
        misses = [(f"{name}, {tag}", listing(params, drop), target)
                  for tag, drop in [("miss after a new conversation (page and count)", (content_key, membership_key)),
                                    ("miss after a new message (page)", (content_key,))]
                  for name, params, target in pages]
        for (name, _, target), taken in zip(misses, interleaved([fn for _, fn, _ in misses], args.reps)):
            row(name, taken, target)
        for name, params, target in pages:
            row(f"{name}, cache hit", timed(listing(params, ()), args.reps), target)

        rss_before = peak_rss_kib(web_pid)
        t0 = time.perf_counter()
        size = lines = 0
        with api.stream("GET", "/api/conversations/export", headers={**h, "Accept-Encoding": "identity"}) as resp:
            for chunk in resp.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        took = time.perf_counter() - t0
        rss_after = peak_rss_kib(web_pid)
        print(f"\nexport: {lines:,} lines, {size / 2**20:.0f} MiB in {took:.1f} s; web process peak RSS "
              f"{rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after")
        pg.close()
        api.close()


def _cursor_before(api: httpx.Client, headers: dict, page: int) -> str:
    """The cursor that leads to `page` (taken from the page before it, fetched by offset once)."""
    body = api.get("/api/conversations", params={"page": page - 1}, headers=headers).json()
    assert body["next_cursor"], body
    return body["next_cursor"]


if __name__ == "__main__":
    main()
