"""The pieces of an early start that need no stack: the prefetching iterator and the task hint."""
from __future__ import annotations

import threading

import pytest

from models import now_ms
from services.early_start import HINT_MAX_BYTES, Prefetched, fresh_hint, task_hint


def test_the_first_item_is_pulled_before_anyone_asks_and_the_rest_by_the_consumer():
    pulled_by: list[str] = []
    first_pulled = threading.Event()

    def items():
        for i in range(3):
            pulled_by.append(threading.current_thread().name)
            first_pulled.set()
            yield i

    it = Prefetched(items())
    assert first_pulled.wait(5), "the first item was not pulled in the background"
    assert list(it) == [0, 1, 2]
    assert pulled_by[0] == "prefetch" and pulled_by[1:] == [threading.current_thread().name] * 2


def test_an_error_of_the_first_pull_reaches_the_consumer():
    def failing():
        raise ConnectionError("vendor down")
        yield  # pragma: no cover

    it = Prefetched(failing())
    with pytest.raises(ConnectionError, match="vendor down"):
        next(it)


def test_close_closes_the_inner_iterator():
    closed = threading.Event()

    def items():
        try:
            yield 1
            yield 2
        finally:
            closed.set()

    it = Prefetched(items())
    assert next(it) == 1
    it.close()
    assert closed.is_set()


def payload(text: str, system: str | None = None) -> dict:
    return {"provider": "openai", "model": "m", "messages": [{"role": "user", "content": text}], "system": system}


def test_a_hint_is_used_only_when_fresh_and_well_formed():
    hint = task_hint("u1", payload("hi"), window=1.0)
    assert fresh_hint(hint, 1000) == ("u1", payload("hi"))
    assert fresh_hint({**hint, "sent_at": now_ms() - 5000}, 1000) is None
    assert fresh_hint(hint, 0) is None
    for bad in (None, "x", {**hint, "user_id": 7}, {**hint, "payload": []}, {**hint, "sent_at": "now"}):
        assert fresh_hint(bad, 1000) is None


def test_long_requests_and_a_zero_window_send_no_hint():
    assert task_hint("u1", payload("x" * (HINT_MAX_BYTES + 1)), window=1.0) is None
    assert task_hint("u1", payload("x", system="s" * HINT_MAX_BYTES), window=1.0) is None
    assert task_hint("u1", {**payload("x"), "v1": {"tools": ["t" * HINT_MAX_BYTES]}}, window=1.0) is None
    assert task_hint("u1", payload("x"), window=0) is None
