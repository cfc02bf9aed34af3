"""A real headless Chromium (Debian's `chromium`) driven by Playwright, for the console's end-to-end tests.

Playwright's own browser download is not used: the browser is the system's (`CHROMIUM_PATH`, else
`chromium` / `chromium-browser` on PATH). Without one the tests skip with the reason, except in CI
(`CI=true`) or when screenshots are asked for, where a missing browser is a failure. Screenshots go to
`CONSOLE_SCREENSHOTS` when set (`scripts/screenshots.py` points it at `docs/screenshots`), else to a
temporary folder.
Import the fixtures into a test module to use them.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

VIEWPORT = {"width": 1280, "height": 860}


def chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        pytest.fail(f"screenshots were asked for but cannot be taken: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        b = pw.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    target = os.environ.get("CONSOLE_SCREENSHOTS")
    path = Path(target) if target else Path(tempfile.mkdtemp(prefix="console-screenshots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class PageProblems:
    """Script errors and Content-Security-Policy refusals a page reported: a test ends with none."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, msg) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.errors.append(f"CSP: {msg.text}")

    def assert_none(self) -> None:
        assert not self.errors, "\n".join(self.errors)


@pytest.fixture()
def new_page(browser, live_server: str):
    """`new_page(width=…)`: a page in a fresh context (its own sessionStorage), checked for problems at the end."""
    contexts = []
    problems: list[PageProblems] = []

    def make(width: int | None = None):
        viewport = dict(VIEWPORT, width=width) if width else VIEWPORT
        ctx = browser.new_context(base_url=live_server, viewport=viewport)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        problems.append(PageProblems(page))
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    for p in problems:
        p.assert_none()
