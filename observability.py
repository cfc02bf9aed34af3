"""JSON log lines carrying request id, user id and job id, for the web app and the worker alike."""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("log_context", default={})

# Secrets never reach a log line, whoever logs them (our code, a library, a traceback): JWTs,
# bearer credentials, vendor API keys, and password/secret/token fields in JSON-ish text.
_REDACTIONS = (
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), "[jwt]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"\b(sk|ak|pk|rk)-[A-Za-z0-9_-]{3,}"), "[api-key]"),
    (re.compile(r"(?i)([\"']?(?:password|passwd|secret|api[_-]?key|access_token|refresh_token|token)[\"']?"
                r"\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def bind_log_context(**fields: object) -> None:
    current = dict(_context.get())
    current.update(fields)
    _context.set(current)


def log_context() -> dict:
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line; written here because it is a dozen lines and needs our context var."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in _context.get().items() if v is not None})
        entry.update(getattr(record, "fields", None) or {})  # structured fields of the line itself (access log)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def init_celery_context(celery) -> None:
    """Carry the submitting request's id to the task, and bind request id and job id in the worker."""
    from celery import signals

    @signals.before_task_publish.connect(weak=False, dispatch_uid="chat-studio-request-id")
    def _add_request_id(headers: dict | None = None, **_kw: object) -> None:
        rid = _context.get().get("request_id")
        if rid and headers is not None:
            headers.setdefault("request_id", rid)

    @signals.task_prerun.connect(weak=False, dispatch_uid="chat-studio-task-context")
    def _bind_task_context(task=None, args=None, **_kw: object) -> None:
        request = getattr(task, "request", None)
        rid = getattr(request, "request_id", None) if request is not None else None
        job_id = args[0] if args and isinstance(args[0], str) and args[0].startswith("job_") else None
        _context.set({"request_id": rid, "task_id": getattr(request, "id", None), "job_id": job_id,
                      "user_id": None})
