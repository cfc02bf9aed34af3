"""Our one retry policy for provider calls (SDK clients run with `max_retries=0`).

Retry only what can succeed on a second try (timeouts, connection errors, 429, 5xx), with
exponential backoff and full jitter up to a cap, waiting at least what `Retry-After` asks (also
capped). A retried stream starts over; `on_retry` tells the caller whether output of the failed
attempt had already gone out, so it can tell its client the answer restarted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from providers.base import NEVER_CANCELLED, CancelToken, CompletionRequest, Provider, ProviderError, StreamChunk

OnRetry = Callable[[ProviderError, int, bool], None]


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


class wait_backoff_or_retry_after:
    """Full-jitter exponential backoff, but never shorter than the vendor's Retry-After (both capped)."""

    def __init__(self, initial: float, cap: float) -> None:
        self.jitter = wait_random_exponential(multiplier=initial, max=cap)
        self.cap = cap

    def __call__(self, state: RetryCallState) -> float:
        delay = self.jitter(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.cap)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one provider call: attempts, and the backoff's first and longest delay."""

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 20.0


def retrying(policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    return Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(max(1, policy.max_attempts)),
        wait=wait_backoff_or_retry_after(policy.backoff_initial, policy.backoff_max),
        sleep=sleep,
        reraise=True,
    )


def stream_with_retries(provider: Provider, request: CompletionRequest, policy: RetryPolicy,
                        on_retry: OnRetry | None = None, sleep: Callable[[float], None] = time.sleep,
                        cancel: CancelToken = NEVER_CANCELLED,
                        first: Iterator[StreamChunk] | None = None) -> Iterator[StreamChunk]:
    """Stream a completion, retrying the whole call on retryable errors, until done or cancelled.

    `first` is the first call's stream when the caller already opened it (a retry opens its own)."""
    attempt_no = 0
    for attempt in retrying(policy, sleep):
        with attempt:
            attempt_no += 1
            had_output = False
            inner = first if attempt_no == 1 and first is not None else provider.stream(request, cancel)
            try:
                if cancel.cancelled:
                    return
                for chunk in inner:
                    had_output = had_output or bool(chunk.text)
                    yield chunk
            except ProviderError as exc:
                if exc.retryable and on_retry is not None and attempt_no < policy.max_attempts:
                    on_retry(exc, attempt_no, had_output)
                raise
            finally:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()
