"""`python3 dev.py run` stops everything on SIGINT and SIGTERM, also when started the way a script or
CI starts a background job (SIGINT ignored), and listens on loopback only by default."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port, wait_for


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (by /proc parent links), with its command line."""
    tree, found, todo = _children(), {}, [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            try:
                found[child] = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a non-interactive shell does


def _listening_on(port: int) -> set[str]:
    """Local addresses with a TCP listener on `port` (from /proc/net/tcp)."""
    addrs = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        ip_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            addrs.add(socket.inet_ntoa(bytes.fromhex(ip_hex)[::-1]))
    return addrs


@pytest.fixture()
def run_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "OPENAI_", "ANTHROPIC_", "BIND_HOST", "HOST"))}
    env.update(PORT=str(free_port()), FLOWER_PORT=str(free_port()), WEB_CONCURRENCY="1",
               DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}",
               PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="chat-dev-run-metrics-", dir=tmp_path))
    return env


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_dev_run_in_the_background_stops_everything(run_env, tmp_path, sig):
    log = open(tmp_path / "dev.log", "wb")
    dev = subprocess.Popen([sys.executable, "dev.py", "run"], cwd=ROOT, env=run_env, stdout=log,
                           stderr=subprocess.STDOUT, preexec_fn=_ignore_sigint, start_new_session=True)
    port, flower = int(run_env["PORT"]), int(run_env["FLOWER_PORT"])
    try:
        def up() -> bool:
            try:
                web_ok = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
                return web_ok and httpx.get(f"http://127.0.0.1:{flower}/", timeout=2).status_code == 401
            except httpx.HTTPError:
                return dev.poll() is not None and pytest.fail((tmp_path / "dev.log").read_text())
        wait_for(up, timeout=120, interval=0.5, what="the stack to be up")
        procs = descendants(dev.pid)
        names = " ".join(procs.values())
        assert all(part in names for part in ("run_stack.py", "gunicorn", "worker", "flower", "redis")), names
        # A development stack listens on loopback only (the Procfile alone binds every interface).
        assert _listening_on(port) == {"127.0.0.1"} and _listening_on(flower) == {"127.0.0.1"}

        os.kill(dev.pid, sig)  # to dev.py alone, as `kill -INT <pid>` would
        assert dev.wait(60) == 0
        wait_for(lambda: not any(alive(p) for p in procs), timeout=20, what="every process of the stack to exit")
        log_text = (tmp_path / "dev.log").read_text(errors="replace")
        assert "Traceback" not in log_text.split("Press Ctrl-C to stop.", 1)[-1], log_text[-3000:]
    finally:
        if dev.poll() is None:  # only our own processes, by their ids
            for pid in descendants(dev.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            dev.kill()
            dev.wait(10)
        log.close()
