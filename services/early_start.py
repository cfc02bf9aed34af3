"""Opening a job's vendor stream while its claim is still under way.

A fresh task carries its job's request (`hint`), so the worker can send it to the vendor at once
and claim the row, fence the event log and write `started` while the vendor prepares its first
token, instead of before it. Nothing is written for the job until the claim succeeds; the stream
is only read after that. When the claim finds nothing to run (cancelled, finished, owned
elsewhere) or the row's request differs from the hint, the stream is closed unread.

Only hints younger than `JOB_EARLY_START_WITHIN` are used: a task that waited in a backlog gains
nothing from it, and a job cancelled while it waited is never sent to the vendor.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

import orjson
from flask import Flask

from extensions import ext_providers
from extensions.ext_settings import settings
from models import Job, now_ms
from providers.base import CancelToken, CompletionRequest, Provider, StreamChunk
from providers.limits import LimitedProvider
from services.job_metrics import JobMetrics
from services.provider_keys import job_provider

log = logging.getLogger(__name__)
T = TypeVar("T")


class Prefetched(Generic[T]):
    """An iterator whose first item is pulled in a background thread from the start.

    The thread only waits for the first item (for a vendor stream: sends the request and waits
    for the first token); everything after it is pulled by the consumer, one at a time. An
    exception of the first pull is raised to the consumer, where it would have been raised."""

    def __init__(self, inner: Iterator[T]) -> None:
        self._inner = inner
        self._ready = threading.Event()
        self._first: list[T] = []
        self._error: BaseException | None = None
        self._taken = False
        threading.Thread(target=self._pull, name="prefetch", daemon=True).start()

    def _pull(self) -> None:
        try:
            self._first.append(next(self._inner))
        except BaseException as exc:  # StopIteration included: handed to the consumer as is
            self._error = exc
        finally:
            self._ready.set()

    def __iter__(self) -> "Prefetched[T]":
        return self

    def __next__(self) -> T:
        if not self._taken:
            self._ready.wait()
            self._taken = True
            if self._error is not None:
                raise self._error
            return self._first.pop()
        return next(self._inner)

    def close(self) -> None:
        """Wait for the first pull (a cancelled stream ends it), then close the inner iterator."""
        self._ready.wait()
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


@dataclass
class EarlyStream:
    """A vendor stream opened for a job before its claim: the adapter, the model it resolved to,
    whether the adapter is the job's own (holding its owner's key), the cancel token of the call,
    and the stream itself."""

    user_id: str
    payload: dict[str, Any]
    provider: Provider
    model: str
    per_job: bool
    cancel: CancelToken
    stream: Prefetched[StreamChunk]
    _closed: bool = False

    def serves(self, job: Job) -> bool:
        """Whether the claimed row asks for exactly the request that was sent."""
        return job.user_id == self.user_id and job.payload == self.payload

    def end(self) -> None:
        """Cut the call if it is still going, close it and let go of the owner's key (once)."""
        if self._closed:
            return
        self._closed = True
        self.cancel.cancel()
        self.stream.close()
        if self.per_job:
            self.provider.close()


HINT_MAX_BYTES = 16_000  # longer requests are read from the row only, keeping broker messages small


def task_hint(user_id: str, payload: dict[str, Any], window: float) -> dict[str, Any] | None:
    """What a job's task carries for an early start, or None (disabled, or a long request)."""
    if window <= 0 or len(orjson.dumps(payload)) > HINT_MAX_BYTES:
        return None
    return {"user_id": user_id, "payload": payload, "sent_at": now_ms()}


def fresh_hint(hint: Any, window_ms: float) -> tuple[str, dict[str, Any]] | None:
    """(user id, payload) of a well-formed hint sent less than `window_ms` ago, else None."""
    if not isinstance(hint, dict) or window_ms <= 0:
        return None
    user_id, payload, sent_at = hint.get("user_id"), hint.get("payload"), hint.get("sent_at")
    if not (isinstance(user_id, str) and isinstance(payload, dict) and isinstance(sent_at, int)):
        return None
    if now_ms() - sent_at > window_ms:
        return None
    return user_id, payload


def start_early(app: Flask, hint: Any, request_of: Callable[[dict, str], CompletionRequest]) -> EarlyStream | None:
    """Send the hinted request to the vendor now, or None when the hint cannot be used.

    `request_of(payload, model)` builds the provider request, as the runner does."""
    fresh = fresh_hint(hint, settings(app).job_early_start_within * 1000)
    if fresh is None:
        return None
    user_id, payload = fresh
    try:
        provider, model, per_job = job_provider(app, user_id, payload["provider"], payload["model"])
    except Exception as exc:  # the claimed job goes the usual way and reports this properly
        log.info("no early start: %s", exc)
        return None
    try:
        request = request_of(payload, model)
    except Exception as exc:
        log.info("no early start: %s", exc)
        if per_job:
            provider.close()
        return None
    cancel = CancelToken()
    metrics = JobMetrics(payload)
    limited = LimitedProvider(provider, ext_providers.limiter(app), on_wait=metrics.slot_waited)
    stream = Prefetched(limited.stream(request, cancel))
    return EarlyStream(user_id, payload, provider, model, per_job, cancel, stream)
