"""JSON log lines carrying request id, user id and job id, for the web app and the worker alike."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("log_context", default={})


def bind_log_context(**fields: object) -> None:
    current = dict(_context.get())
    current.update(fields)
    _context.set(current)


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
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
