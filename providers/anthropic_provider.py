"""Anthropic through the official SDK, streaming (system prompt via `system=`)."""
from __future__ import annotations

from typing import Iterator

import anthropic

from providers.base import NEVER_CANCELLED, CancelToken, CompletionRequest, StreamChunk, Usage
from providers.errors import ProviderUnavailableError, map_sdk_error
from providers.sdk import LazyClient


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, api_key: str, base_url: str | None, models: list[str], timeout: float) -> None:
        self._models = models
        self._client = LazyClient(lambda: anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=0,  # our policy retries
            timeout=anthropic.Timeout(timeout, connect=10.0)))

    @property
    def client(self) -> "anthropic.Anthropic":
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def models(self) -> list[str]:
        return list(self._models)

    def stream(self, request: CompletionRequest, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[StreamChunk]:
        kwargs = {}
        if request.system:
            kwargs["system"] = request.system
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        messages = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        try:
            stream = self.client.messages.create(
                # anthropic 2.x dropped `temperature` from `messages.create`; it is not sent.
                model=request.model, messages=messages, max_tokens=request.max_tokens, stream=True, **kwargs,
            )
        except Exception as exc:
            raise map_sdk_error(anthropic, exc, self.name, request.model) from exc
        input_tokens = output_tokens = 0
        stopped = False
        finish: str | None = None
        try:
            for event in stream:
                if cancel.cancelled:
                    return
                kind = event.type
                if kind == "message_start":
                    input_tokens = event.message.usage.input_tokens or 0
                    output_tokens = event.message.usage.output_tokens or 0
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    if event.delta.text:
                        yield StreamChunk(text=event.delta.text)
                elif kind == "message_delta":
                    output_tokens = event.usage.output_tokens or output_tokens
                    finish = getattr(event.delta, "stop_reason", None) or finish
                elif kind == "message_stop":
                    stopped = True
        except GeneratorExit:
            raise
        except Exception as exc:
            if cancel.cancelled:  # our own close ended the read
                return
            raise map_sdk_error(anthropic, exc, self.name, request.model) from exc
        finally:
            stream.close()
        if cancel.cancelled:
            return
        if not stopped:  # the connection ended before the vendor said it was done
            raise ProviderUnavailableError("stream ended before it finished", provider=self.name, model=request.model)
        yield StreamChunk(usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
                          finish_reason=finish or "end_turn")
