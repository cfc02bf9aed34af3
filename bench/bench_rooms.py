"""Rooms over two web processes: delivered messages per second, p99 delivery latency, idle sockets and memory.

    .venv/bin/python bench/bench_rooms.py [--members 100,1000] [--idle 5000] [--seconds 10]

A room of N members is spread over two gunicorn servers (one gevent worker each) on one database and
Redis; one member sends, every other member receives and acks every message (as a real client does).
Latency is send → receipt at each member, measured in this one process. Then one web process is given
`--idle` personal sockets; memory per socket is the RSS growth of its worker divided by the sockets.
Users are inserted directly and their tokens minted with the server's secret: hashing thousands of
passwords is not what is being measured. Clients run on gevent in this process.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.pool  # noqa: E402
import websocket  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct  # noqa: E402
from bench.stack import BenchStack  # noqa: E402

TARGET_IDLE = 5000
TARGET_KIB = 100
TARGET_P99_MS = 50
TARGET_RATE = 1000
WINDOW = 8


def raise_fd_limit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(hard, max(soft, want))
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def make_users(stack: BenchStack, n: int) -> list[tuple[str, str]]:
    """(user id, access token) for n users written straight to the database."""
    from flask_jwt_extended import create_access_token
    from sqlalchemy import insert

    from models import User, now_ms
    from models.db import db
    from settings import Settings
    from web import create_app

    app = create_app(Settings(database_url=stack.database_url, redis_url=stack.env["REDIS_URL"],
                              redis_key_prefix=stack.prefix, jwt_secret_key=stack.env["JWT_SECRET_KEY"],
                              environment="test", jwt_access_minutes=600))
    run = uuid.uuid4().hex[:6]
    rows = [{"id": f"user_b{run}{i:06d}", "username": f"b{run}{i}", "email": f"b{run}{i}@example.com",
             "password_hash": "x", "created_at": now_ms(), "updated_at": now_ms()} for i in range(n)]
    with app.app_context():
        db.session.execute(insert(User), rows)
        db.session.commit()
        tokens = [(r["id"], create_access_token(identity=r["id"])) for r in rows]
        db.session.remove()
    return tokens


def connect(base: str, path: str, token: str) -> websocket.WebSocket:
    ws = websocket.create_connection(base.replace("http://", "ws://") + path, timeout=60,
                                     header=[f"Authorization: Bearer {token}"], suppress_origin=True)
    while json.loads(ws.recv())["type"] != "ready":
        pass
    return ws


def room_run(stack: BenchStack, bases: list[str], users: list[tuple[str, str]], members: int, rate: float,
             seconds: float) -> dict:
    """One member sends `rate` messages/s for `seconds`; the others receive and ack."""
    room = "bench-" + uuid.uuid4().hex[:8]

    def join(i: int) -> None:  # membership only: open the room socket once
        connect(bases[i % 2], f"/ws/room/{room}", users[i][1]).close()

    gevent.pool.Pool(20).map(join, range(1, members))
    # Receivers listen on their personal sockets, which carry the room's messages but not its presence
    # events: N members all connected to the room socket would first exchange N² joins.
    sender = connect(bases[0], f"/ws/room/{room}", users[0][1])
    receivers = gevent.pool.Pool(50).map(lambda i: connect(bases[i % 2], "/ws", users[i][1]), range(1, members))
    socks = [sender] + receivers
    latencies: list[float] = []
    received = [0]
    done = gevent.event.Event()

    def receive(ws: websocket.WebSocket) -> None:
        try:
            while not done.is_set():
                frame = json.loads(ws.recv())
                if frame["type"] == "chat_message":
                    latencies.append((time.time() - float(frame["content"])) * 1000)
                    received[0] += 1
                    ws.send(json.dumps({"type": "ack", "ids": [frame["id"]]}))
        except Exception:
            pass

    confirmed = [0]

    def drain_sender() -> None:
        try:
            while not done.is_set():
                if json.loads(sender.recv())["type"] in ("message_sent", "error"):
                    confirmed[0] += 1
        except Exception:
            pass

    readers = [gevent.spawn(receive, ws) for ws in receivers] + [gevent.spawn(drain_sender)]
    gevent.sleep(1)  # presence events settle
    sent = 0
    t0 = time.monotonic()
    interval = 1.0 / rate if rate else 0
    while time.monotonic() - t0 < seconds:
        sender.send(json.dumps({"type": "chat", "content": repr(time.time()), "messageId": f"m{sent}"}))
        sent += 1
        if interval:
            gevent.sleep(max(0.0, t0 + sent * interval - time.monotonic()))
        while sent - confirmed[0] >= WINDOW and time.monotonic() - t0 < seconds + 30:
            gevent.sleep(0.001)  # at most WINDOW messages in flight: a sender that waits for receipts
    expected = sent * (members - 1)
    deadline = time.monotonic() + 30
    while received[0] < expected and time.monotonic() < deadline:
        gevent.sleep(0.1)
    elapsed = time.monotonic() - t0
    done.set()
    for ws in socks:
        ws.close()
    gevent.joinall(readers, timeout=5)
    return {"members": members, "sent": sent, "delivered": received[0], "expected": expected,
            "rate": received[0] / elapsed, "p50": pct(latencies, 50), "p99": pct(latencies, 99)}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pid(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return int(children[0])


def idle_run(stack: BenchStack, base: str, master_pid: int, users: list[tuple[str, str]], count: int) -> dict:
    pid = worker_pid(master_pid)
    before = rss_kib(pid)
    socks: list = []

    def one(i: int) -> None:
        try:
            socks.append(connect(base, "/ws", users[i % len(users)][1]))
        except Exception as exc:  # noqa: BLE001 - counted, reported
            errors.append(repr(exc))

    errors: list[str] = []
    t0 = time.monotonic()
    gevent.pool.Pool(50).map(one, range(count))
    took = time.monotonic() - t0
    gevent.sleep(2)
    after = rss_kib(pid)
    for ws in socks:
        try:
            ws.close()
        except Exception:
            pass
    return {"sockets": len(socks), "errors": len(errors), "first_error": errors[:1], "connect_s": took,
            "rss_before_mib": before / 1024, "rss_after_mib": after / 1024,
            "kib_per_socket": (after - before) / max(1, len(socks))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", default="100,1000")
    ap.add_argument("--idle", type=int, default=TARGET_IDLE)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    levels = [int(x) for x in args.members.split(",")]
    limit = raise_fd_limit(2 * (args.idle + max(levels)) + 1000)
    print(f"file descriptors: {limit}")
    env = {"CHAT_MESSAGES_PER_SECOND": "100000", "WEB_WORKER_CONNECTIONS": str(args.idle + 2 * max(levels) + 500),
           "CHAT_SEND_BUFFER": "5000", "WS_PING_INTERVAL": "30",
           # few database connections: the PostgreSQL server is shared
           "DB_POOL_SIZE": "8", "DB_MAX_OVERFLOW": "0"}
    with BenchStack(**env) as stack:
        bases = [stack.start_web(workers=1), stack.start_web(workers=1)]
        masters = [p.pid for p in stack.procs]
        stack.start_worker("chat", concurrency=20)
        users = make_users(stack, max(max(levels), 1000))
        rows = []
        for n in levels:
            for label, rate in (("target", TARGET_RATE / (n - 1)), ("max", 0)):
                r = room_run(stack, bases, users, n, rate, args.seconds)
                rows.append((label, r))
                print(f"room {n:>5} members, {label:>6}: sent {r['sent']:>5}, delivered {r['delivered']:>7}/"
                      f"{r['expected']:<7} {r['rate']:8.0f} deliveries/s  p50 {r['p50']:7.1f} ms  "
                      f"p99 {r['p99']:7.1f} ms", flush=True)
        idle = idle_run(stack, bases[0], masters[0], users, args.idle)
        print(f"idle sockets on one web process: {idle['sockets']} (errors {idle['errors']} {idle['first_error']}) "
              f"in {idle['connect_s']:.1f} s; worker RSS {idle['rss_before_mib']:.1f} → "
              f"{idle['rss_after_mib']:.1f} MiB = {idle['kib_per_socket']:.1f} KiB per socket", flush=True)
    print(f"targets: ≥ {TARGET_IDLE} idle sockets at ≤ {TARGET_KIB} KiB each; p99 ≤ {TARGET_P99_MS} ms at "
          f"{TARGET_RATE} delivered/s")


if __name__ == "__main__":
    main()
