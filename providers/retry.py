"""Our one retry policy for provider calls (SDK clients run with `max_retries=0`).

Retry only what can succeed on a second try (timeouts, connection errors, 429, 5xx), with
exponential backoff and full jitter up to a cap, waiting at least what `Retry-After` asks (also
capped). A retried stream starts over; `on_retry` tells the caller whether output of the failed
attempt had already gone out, so it can tell its client the answer restarted.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from providers.base import CompletionRequest, Provider, ProviderError, StreamChunk
from settings import Settings

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


def retry_policy(settings: Settings, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    return Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(max(1, settings.provider_max_attempts)),
        wait=wait_backoff_or_retry_after(settings.provider_backoff_initial, settings.provider_backoff_max),
        sleep=sleep,
        reraise=True,
    )


def stream_with_retries(provider: Provider, request: CompletionRequest, settings: Settings,
                        on_retry: OnRetry | None = None,
                        sleep: Callable[[float], None] = time.sleep) -> Iterator[StreamChunk]:
    """Stream a completion, retrying the whole call on retryable errors."""
    attempt_no = 0
    for attempt in retry_policy(settings, sleep):
        with attempt:
            attempt_no += 1
            had_output = False
            inner = provider.stream(request)
            try:
                for chunk in inner:
                    had_output = had_output or bool(chunk.text)
                    yield chunk
            except ProviderError as exc:
                if exc.retryable and on_retry is not None and attempt_no < settings.provider_max_attempts:
                    on_retry(exc, attempt_no, had_output)
                raise
            finally:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()
