"""OpenAI through the official SDK, streaming; the same adapter serves any OpenAI-compatible server
(vLLM, Ollama, llama.cpp, LM Studio) by base URL."""
from __future__ import annotations

from typing import Iterable, Iterator

import openai
import orjson

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
        """The SDK sends the request (auth, base URL, status errors); the SSE body is read raw and parsed
        with orjson: a pydantic object per chunk costs more CPU than everything else a token does."""
        try:
            response = self._open(request)
        except Exception as exc:
            raise map_sdk_error(openai, exc, self.name, request.model) from exc
        cancel.on_cancel(response.close)  # cuts a read that waits on the vendor
        state = _StreamState()
        try:
            for batch in sse_data(response.iter_bytes()):
                if cancel.cancelled:
                    return
                # Tokens that arrived in one read leave as one chunk (one event downstream).
                text = "".join(state.take(orjson.loads(data), response) for data in batch if data != b"[DONE]")
                if text:
                    yield StreamChunk(text=text)
                if batch[-1] == b"[DONE]":
                    break
        except GeneratorExit:
            raise
        except Exception as exc:
            if cancel.cancelled:  # our own close ended the read
                return
            raise map_sdk_error(openai, exc, self.name, request.model) from exc
        finally:
            response.close()
        if cancel.cancelled:
            return
        if state.finish is None:  # the connection ended before the vendor said it was done
            raise ProviderUnavailableError("stream ended before it finished", provider=self.name, model=request.model)
        # Compatible servers may send no usage chunk: usage stays None rather than a guess.
        yield StreamChunk(usage=state.usage, finish_reason=state.finish)

    def _open(self, request: CompletionRequest):
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        extra = {"stop": list(request.stop)} if request.stop else {}
        return self.client.chat.completions.with_raw_response.create(
            model=request.model, messages=messages, temperature=request.temperature,
            max_tokens=request.max_tokens, stream=True, stream_options={"include_usage": True}, **extra,
        ).http_response


class _StreamState:
    """What the chunks said besides text: the finish reason and the usage."""

    def __init__(self) -> None:
        self.finish: str | None = None
        self.usage: Usage | None = None

    def take(self, chunk: dict, response) -> str:
        """The text of one chunk; raises the SDK's APIError for an error event inside the stream."""
        if chunk.get("error"):
            err = chunk["error"]
            message = err.get("message") if isinstance(err, dict) else str(err)
            raise openai.APIError(message or "error in stream", request=response.request, body=err)
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(input_tokens=usage.get("prompt_tokens") or 0,
                               output_tokens=usage.get("completion_tokens") or 0)
        parts = []
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
            text = (choice.get("delta") or {}).get("content")
            if text:
                parts.append(text)
        return "".join(parts)


def sse_data(chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
    """The `data:` payloads of a server-sent event stream, as bytes (multi-line data joined by \\n),
    grouped by the network read that completed them."""
    buffer = b""
    data: list[bytes] = []
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        done: list[bytes] = []
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if data:
                    done.append(b"\n".join(data))
                    data = []
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
        if done:
            yield done
    if data:
        yield [b"\n".join(data)]
