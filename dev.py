#!/usr/bin/env python3
"""`python3 dev.py run` starts the whole stack; `python3 dev.py test` runs every test.

Needs only Python 3.11+: creates `.venv` and installs the pinned requirements on first use
(and again when a requirements file changes). On a Debian without the python3-venv package it
creates the venv without pip and bootstraps pip from the package index.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".requirements-sha256"


def _requirements_digest() -> str:
    h = hashlib.sha256()
    for name in ("requirements.txt", "requirements-dev.txt"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def _bootstrap_pip() -> None:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    json_api = index.replace("/simple", "/pypi") + "/pip/json"
    with urllib.request.urlopen(json_api, timeout=60) as resp:
        files = json.load(resp)["urls"]
    wheel = next(f for f in files if f["filename"].endswith(".whl"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / wheel["filename"]
        urllib.request.urlretrieve(wheel["url"], path)
        subprocess.run([str(PY), f"{path}/pip", "install", "-q", str(path)], check=True)


def ensure_venv() -> None:
    digest = _requirements_digest()
    if PY.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return
    if not PY.exists():
        try:
            venv.create(VENV, with_pip=True)
        except (subprocess.CalledProcessError, OSError):
            venv.create(VENV, with_pip=False, clear=True)
            _bootstrap_pip()
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-dev.txt")], check=True)
    STAMP.write_text(digest)


def _default_sigint() -> None:
    """In the child: a normal SIGINT even if ours was ignored (a background job of a non-interactive
    shell starts with SIGINT ignored, and Python then never turns it into KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _in_terminal_foreground() -> bool:
    """True when a Ctrl-C from the terminal reaches our process group (and so the child in it) already."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:  # no terminal: every signal comes from `kill`
        return False


def _forward_signals(child: subprocess.Popen, own_group: bool) -> None:
    """SIGINT and SIGTERM to us go to the child exactly once, however we were started: re-installed
    here because a background job inherits SIGINT ignored."""

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is not None:
            return
        if signum == signal.SIGINT and not own_group and _in_terminal_foreground():
            return  # the terminal sent the same Ctrl-C to the child
        child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    ensure_venv()
    os.chdir(ROOT)
    if argv[0] == "run":
        cmd = [str(PY), "scripts/run_stack.py"]
    else:
        cmd = [str(PY), "-m", "pytest", *argv[1:]]
    # `run` gets a process group of its own, so only we signal it (once); pytest stays in ours, with the
    # terminal, for debuggers that read it.
    own_group = argv[0] == "run"
    child = subprocess.Popen(cmd, preexec_fn=_default_sigint, process_group=0 if own_group else None)
    _forward_signals(child, own_group)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
