"""`GET /api/users/me/stats`: the caller's totals, cached per user until their next write."""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from models.db import db
from schemas.core import StatsOut
from services import conversations
from web.openapi import endpoint

bp = Blueprint("stats", __name__)


@bp.get("/api/users/me/stats")
@jwt_required()
@endpoint("The caller's conversations, messages and tokens by model", tags=["users"],
          responses={200: StatsOut})
def my_stats():
    return conversations.stats(db.session(), current_user.id)
