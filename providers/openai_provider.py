"""OpenAI through the official SDK, streaming; the same adapter serves any OpenAI-compatible server
(vLLM, Ollama, llama.cpp, LM Studio) by base URL."""
from __future__ import annotations

from typing import Iterator

import openai

from providers.base import NEVER_CANCELLED, CancelToken, CompletionRequest, StreamChunk, Usage
from providers.errors import ProviderUnavailableError, map_sdk_error
from providers.sdk import LazyClient


class OpenAIProvider:
    def __init__(self, name: str, api_key: str, base_url: str | None, models: list[str], timeout: float) -> None:
        self.name = name
        self._models = models
        self._client = LazyClient(lambda: openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0,  # our policy retries
            timeout=openai.Timeout(timeout, connect=10.0)))

    @property
    def client(self) -> "openai.OpenAI":
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def models(self) -> list[str]:
        if not self._models:
            # A compatible server configured without a model list: ask it once.
            try:
                self._models = [m.id for m in self.client.models.list()]
            except Exception as exc:
                raise map_sdk_error(openai, exc, self.name, "") from exc
            if not self._models:
                raise ProviderUnavailableError("the server lists no models", provider=self.name)
        return list(self._models)

    def stream(self, request: CompletionRequest, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[StreamChunk]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        extra = {"stop": list(request.stop)} if request.stop else {}
        try:
            stream = self.client.chat.completions.create(
                model=request.model, messages=messages, temperature=request.temperature,
                max_tokens=request.max_tokens, stream=True, stream_options={"include_usage": True}, **extra,
            )
        except Exception as exc:
            raise map_sdk_error(openai, exc, self.name, request.model) from exc
        cancel.on_cancel(stream.close)  # cuts a read that waits on the vendor
        finish: str | None = None
        usage: Usage | None = None
        try:
            for chunk in stream:
                if cancel.cancelled:
                    return
                if chunk.usage is not None:
                    usage = Usage(input_tokens=chunk.usage.prompt_tokens or 0,
                                  output_tokens=chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    if choice.finish_reason:
                        finish = choice.finish_reason
                    text = choice.delta.content if choice.delta else None
                    if text:
                        yield StreamChunk(text=text)
        except GeneratorExit:
            raise
        except Exception as exc:
            if cancel.cancelled:  # our own close ended the read
                return
            raise map_sdk_error(openai, exc, self.name, request.model) from exc
        finally:
            stream.close()
        if cancel.cancelled:
            return
        if finish is None:  # the connection ended before the vendor said it was done
            raise ProviderUnavailableError("stream ended before it finished", provider=self.name, model=request.model)
        # Compatible servers may send no usage chunk: usage stays None rather than a guess.
        yield StreamChunk(usage=usage, finish_reason=finish)
