"""Task arguments checked before they reach a service: a message of the wrong shape (a dict where a
job id belongs) is refused and logged, never turned into a SQL parameter."""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
MAX_ID_LENGTH = 64  # the length of every id column


def valid_id(value: Any, what: str) -> bool:
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return True
    log.error("task refused: %s must be an id string, got %s", what, type(value).__name__)
    return False
