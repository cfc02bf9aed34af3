"""One error hierarchy for every vendor (rate limit, auth, bad request, context window,
unavailable, timeout), and the mapping from each SDK's exceptions to it."""
from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field

from providers.base import ProviderError


@dataclass
class RateLimitError(ProviderError):
    code: str = field(default="rate_limited", init=False)
    retryable: bool = field(default=True, init=False)


@dataclass
class AuthenticationError(ProviderError):
    code: str = field(default="auth_error", init=False)


@dataclass
class BadRequestError(ProviderError):
    code: str = field(default="bad_request", init=False)


@dataclass
class ContextWindowExceededError(BadRequestError):
    code: str = field(default="context_window_exceeded", init=False)


@dataclass
class ProviderUnavailableError(ProviderError):
    code: str = field(default="provider_unavailable", init=False)
    retryable: bool = field(default=True, init=False)


@dataclass
class ProviderTimeoutError(ProviderError):
    code: str = field(default="provider_timeout", init=False)
    retryable: bool = field(default=True, init=False)


_CONTEXT_MARKERS = ("context_length_exceeded", "context length", "prompt is too long", "maximum context",
                    "too many tokens")


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from `retry-after-ms` / `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def from_status(status: int | None, message: str, provider: str, model: str, headers=None) -> ProviderError:
    """The error class for an HTTP status from a vendor."""
    kw = dict(provider=provider, model=model, status=status)
    lowered = message.lower()
    if status == 429:
        return RateLimitError(message, retry_after=parse_retry_after(headers), **kw)
    if status in (401, 403):
        return AuthenticationError(message, **kw)
    if status in (400, 404, 409, 413, 422):
        if any(m in lowered for m in _CONTEXT_MARKERS):
            return ContextWindowExceededError(message, **kw)
        return BadRequestError(message, **kw)
    if status == 408:
        return ProviderTimeoutError(message, **kw)
    return ProviderUnavailableError(message, retry_after=parse_retry_after(headers), **kw)


def map_sdk_error(sdk, exc: Exception, provider: str, model: str) -> ProviderError:
    """Map an exception of the `openai` or `anthropic` SDK (same class names in both) to our hierarchy."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderTimeoutError(str(exc) or "request timed out", provider=provider, model=model)
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderUnavailableError(str(exc) or "connection error", provider=provider, model=model)
    if isinstance(exc, sdk.APIStatusError):
        return from_status(exc.status_code, _message(exc), provider, model, exc.response.headers)
    if isinstance(exc, sdk.APIError):  # e.g. an error event inside a stream
        return _from_api_error_body(exc, provider, model)
    return _from_transport(exc, provider, model)


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            parts = [str(err.get("message") or ""), str(err.get("code") or ""), str(err.get("type") or "")]
            text = " ".join(p for p in parts if p and p != "None")
            if text:
                return text
    return str(getattr(exc, "message", None) or exc)


def _from_api_error_body(exc, provider: str, model: str) -> ProviderError:
    text = _message(exc)
    lowered = text.lower()
    if "overloaded" in lowered or "server_error" in lowered or "api_error" in lowered:
        return ProviderUnavailableError(text, provider=provider, model=model)
    if "rate_limit" in lowered:
        return RateLimitError(text, provider=provider, model=model)
    if any(m in lowered for m in _CONTEXT_MARKERS):
        return ContextWindowExceededError(text, provider=provider, model=model)
    return ProviderUnavailableError(text, provider=provider, model=model)


def _from_transport(exc: Exception, provider: str, model: str) -> ProviderError:
    import httpx2 as httpx

    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(str(exc) or "read timed out", provider=provider, model=model)
    if isinstance(exc, (httpx.TransportError, ConnectionError, OSError)):
        return ProviderUnavailableError(str(exc) or "connection lost", provider=provider, model=model)
    raise exc
