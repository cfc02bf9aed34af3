"""Liveness (`/healthz`) and readiness (`/readyz`: database and Redis, which is also the broker)."""
from __future__ import annotations

import logging

from flask import Blueprint
from sqlalchemy import text

from models.db import db
from realtime.redis_store import kv
from schemas.core import HealthOut
from web.errors import error_response
from web.openapi import endpoint

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@endpoint("The process is alive", tags=["health"], responses={200: HealthOut}, auth=False)
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@endpoint("Database and Redis are reachable", tags=["health"], responses={200: HealthOut}, auth=False,
          errors=(503,))
def readyz():
    checks: dict[str, str] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason goes to the log only
        log.warning("readiness: database down: %s", exc)
        checks["database"] = "down"
    try:
        kv.r.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        log.warning("readiness: redis down: %s", exc)
        checks["redis"] = "down"
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return error_response(503, "not_ready", "unavailable: " + ", ".join(down), details=checks,
                              headers={"Retry-After": "5"})
    return {"status": "ok", "checks": checks}
