"""The one provider interface: a request, a stream of chunks of one shape, one error hierarchy."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" | "assistant" | "system"
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    messages: list[ChatMessage]
    temperature: float = 0.7
    max_tokens: int = 2048
    system: str | None = None  # conversation system prompt, sent the vendor's way
    stop: tuple[str, ...] | None = None  # stop sequences (OpenAI `stop`, Anthropic `stop_sequences`)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class StreamChunk:
    """One piece of a streamed answer, whatever the vendor: text and/or the final usage and the
    vendor's own finish reason (`stop`, `length`, `end_turn`, `max_tokens`, ...)."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


class CancelToken:
    """Set by whoever cancels a call; an adapter checks it between chunks and registers how to cut a
    wait short (closing its HTTP stream), so a cancel lands even while the vendor sends nothing."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the stream may already be closed
                pass

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call `callback` when cancelled (at once if already)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cancel; True when cancelled."""
        return self._event.wait(seconds)


NEVER_CANCELLED = CancelToken()


class Provider(Protocol):
    name: str

    def models(self) -> list[str]: ...

    def stream(self, request: CompletionRequest, cancel: CancelToken = ...) -> Iterator[StreamChunk]:
        """Yield chunks, stopping quietly once `cancel` is set; closing the iterator early must close
        the underlying connection."""
        ...


@dataclass
class ProviderError(Exception):
    message: str
    provider: str = ""
    model: str = ""
    status: int | None = None
    retry_after: float | None = None
    code: str = field(default="provider_error", init=False)
    retryable: bool = field(default=False, init=False)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}: {self.message}"
