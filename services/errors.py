"""Domain errors of the OpenAI-compatible services; the web layer renders them (status + OpenAI shape)."""
from __future__ import annotations


class ServiceError(Exception):
    """A failure the caller caused or must know about; `kind` picks the HTTP status in the web layer."""

    kind = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(ServiceError):
    kind = "invalid_request"


class Unsupported(InvalidRequest):
    """A parameter or feature of OpenAI's API that we do not implement: refused, never ignored."""

    def __init__(self, param: str, what: str | None = None) -> None:
        super().__init__(f"unsupported parameter: {param!r} {what or 'is not supported by this server'}",
                         param=param, code="unsupported_parameter")


class NotFound(ServiceError):
    kind = "not_found"


class Unauthenticated(ServiceError):
    kind = "unauthenticated"


class Conflict(ServiceError):
    kind = "conflict"


class UpstreamFailed(ServiceError):
    """The job behind a request failed (provider error, timeout); `retryable` says if trying again may help."""

    kind = "upstream"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class TimedOut(ServiceError):
    kind = "timeout"
