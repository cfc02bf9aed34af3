"""`GET /api/users/me/stats`: the caller's totals, cached per user until their next write."""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from models.db import db
from extensions.ext_cache import response_cache
from services.conversations import user_stats
from web.openapi import endpoint
from schemas.core import StatsOut

bp = Blueprint("stats", __name__)


@bp.get("/api/users/me/stats")
@jwt_required()
@endpoint("The caller's conversations, messages and tokens by model", tags=["users"],
          responses={200: StatsOut})
def my_stats():
    user_id = current_user.id
    return response_cache().get_or_compute(user_id, "stats", {}, lambda: user_stats(db.session(), user_id))
