"""The one provider interface: a request, a stream of chunks of one shape, one error hierarchy."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol


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
    """One piece of a streamed answer, whatever the vendor: text and/or the final usage/finish reason."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


class Provider(Protocol):
    name: str

    def models(self) -> list[str]: ...

    def stream(self, request: CompletionRequest) -> Iterator[StreamChunk]:
        """Yield chunks; closing the iterator early must close the underlying connection."""
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
