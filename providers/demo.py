"""The offline `demo` provider: a deterministic reply streamed at a configurable token rate.

It needs no key and no network, so the product runs and is tested anywhere. Markers in the last
user message steer it: `[demo:tokens=N]` gives exactly N tokens (`tok0 tok1 ...`), `[demo:fail]`
raises a non-retryable error.
"""
from __future__ import annotations

import re
import time
from typing import Iterator

from providers.base import NEVER_CANCELLED, CancelToken, CompletionRequest, StreamChunk, Usage
from providers.errors import BadRequestError

_TOKENS = re.compile(r"\[demo:tokens=(\d{1,6})\]")
_FILLER = ("This is the offline demo provider of AI Chat Studio. It streams a deterministic answer "
           "token by token so that every part of the pipeline can be exercised without a network. "
           "Set an API key to talk to a real model.")


def demo_reply_tokens(prompt: str) -> list[str]:
    m = _TOKENS.search(prompt)
    if m:
        return [f"tok{i} " for i in range(int(m.group(1)))]
    words = f"Demo reply to: {prompt[:200]} {_FILLER}".split()
    return [w + " " for w in words]


class DemoProvider:
    name = "demo"

    def __init__(self, tokens_per_second: float, models: list[str] | None = None) -> None:
        self.tokens_per_second = tokens_per_second
        self._models = models or ["demo-1"]

    def models(self) -> list[str]:
        return list(self._models)

    def stream(self, request: CompletionRequest, cancel: CancelToken = NEVER_CANCELLED) -> Iterator[StreamChunk]:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if "[demo:fail]" in prompt:
            raise BadRequestError("demo failure requested", provider=self.name, model=request.model, status=400)
        reply = demo_reply_tokens(prompt)
        tokens, finish = _until_stop(reply[: max(1, request.max_tokens)], request.stop)
        if finish is None:
            finish = "length" if len(reply) > request.max_tokens else "stop"
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        start = time.monotonic()
        for i, token in enumerate(tokens):
            if delay:
                # pace against the start time so per-token overhead does not slow the rate
                wait = start + (i + 1) * delay - time.monotonic()
                if wait > 0 and cancel.wait(wait):
                    return
            if cancel.cancelled:
                return
            yield StreamChunk(text=token)
        prompt_tokens = sum(len(m.content.split()) for m in request.messages) + len((request.system or "").split())
        yield StreamChunk(finish_reason=finish, usage=Usage(input_tokens=prompt_tokens, output_tokens=len(tokens)))


def _until_stop(tokens: list[str], stop: tuple[str, ...] | None) -> tuple[list[str], str | None]:
    """The tokens before the first stop sequence (as vendors do, the sequence itself is not sent)."""
    if not stop:
        return tokens, None
    text = "".join(tokens)
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    if cut < 0:
        return tokens, None
    kept: list[str] = []
    length = 0
    for token in tokens:
        if length + len(token) > cut:
            if cut > length:
                kept.append(token[: cut - length])
            break
        kept.append(token)
        length += len(token)
    return kept, "stop"
