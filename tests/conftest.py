"""Hooks for the whole run."""
from __future__ import annotations

import pytest

from tests.support import signal_running


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    if nextitem is None:  # the last test: the session's fixtures are torn down after it
        signal_running()
    yield
