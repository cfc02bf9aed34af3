"""Regenerate the README's console screenshots (`docs/screenshots/*.png`).

The browser tests take them anyway; this runs those tests (a real stack, headless Chromium) with
`CONSOLE_SCREENSHOTS` pointed at `docs/screenshots`. Run it from anywhere with the project's venv
(`python3 dev.py` creates it): `.venv/bin/python scripts/screenshots.py`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "screenshots"


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CONSOLE_SCREENSHOTS=str(TARGET))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/integration/test_console.py"]
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code == 0:
        print("screenshots in", TARGET.relative_to(ROOT), ":", ", ".join(sorted(p.name for p in TARGET.glob("*.png"))))
    return code


if __name__ == "__main__":
    sys.exit(main())
