"""Domain errors: what went wrong in a use case, in its own terms. `web/errors.py` maps each class
to an HTTP status and our envelope; sockets map them to close codes or refusals."""
from __future__ import annotations

from typing import Any, Callable

from pydantic import ValidationError


class DomainError(Exception):
    """`param` names the request parameter at fault, where there is one (OpenAI's error shape on `/v1`)."""

    code = "error"

    def __init__(self, message: str, code: str | None = None, details: Any = None,
                 retry_after: int | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details
        self.retry_after = retry_after
        self.param = param


class InvalidRequest(DomainError):
    """The request asks for something that does not exist or cannot be done here (400)."""
    code = "bad_request"


class Unsupported(InvalidRequest):
    """A parameter or feature of OpenAI's API that we do not implement: refused, never ignored (400)."""

    def __init__(self, param: str, what: str | None = None) -> None:
        super().__init__(f"unsupported parameter: {param!r} {what or 'is not supported by this server'}",
                         code="unsupported_parameter", param=param)


class InvalidInput(DomainError):
    """A value fails validation (422)."""
    code = "validation_error"


class Unauthenticated(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    """Missing or not the caller's: the same answer, so nobody learns what others own (404)."""
    code = "not_found"

    def __init__(self, what: str = "resource", *, message: str | None = None, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message or f"{what} not found", code=code, param=param)


class Conflict(DomainError):
    code = "conflict"


class Unavailable(DomainError):
    """A dependency (the queue) cannot take the work now; try again (503)."""
    code = "service_unavailable"


class TimedOut(DomainError):
    code = "timeout"


class UpstreamFailed(DomainError):
    """The job behind a synchronous answer failed (502); `retryable` says whether trying again may help."""
    code = "upstream_failed"

    def __init__(self, message: str, code: str | None = None, details: Any = None, *,
                 retryable: bool = False) -> None:
        super().__init__(message, code=code, details=details)
        self.retryable = retryable


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as our envelope's `details` (loc, msg, type), inputs left out."""
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def validate_input(validate: Callable[[Any], Any], data: Any, what: str, loc_prefix: str | None = None) -> Any:
    """`validate(data)`, or InvalidInput naming the first problem (and listing all in `details`, each
    `loc` starting with `loc_prefix`: `body`, `query`; the one shape of `loc` everywhere, README "Naming")."""
    if _has_nul(data):  # PostgreSQL text cannot hold NUL; refuse it up front, clearly
        raise InvalidInput(f"{what} must not contain NUL (\\u0000) characters")
    try:
        return validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        first = details[0]
        where = ".".join(str(part) for part in first["loc"])
        summary = f"invalid {what}: {where + ': ' if where else ''}{first['msg']}"
        if loc_prefix:
            details = [{**d, "loc": [loc_prefix, *d["loc"]]} for d in details]
        raise InvalidInput(summary, details=details) from None
