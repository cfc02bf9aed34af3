"""`GET /api/users/me/analytics`: the caller's daily counts kept by the example analytics plugin."""
from __future__ import annotations

from typing import Annotated

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from pydantic import BaseModel, Field

from extensions.ext_plugins import dispatcher
from plugins.analytics import PLUGIN_PATH, daily_usage
from realtime.redis_store import kv
from web.openapi import endpoint

bp = Blueprint("analytics", __name__)


class AnalyticsQuery(BaseModel):
    days: Annotated[int, Field(ge=1, le=366)] = 7


class DailyUsage(BaseModel):
    date: str
    conversations: int
    messages: int
    user_messages: int
    jobs: int
    jobs_failed: int
    input_tokens: int
    output_tokens: int


class AnalyticsOut(BaseModel):
    enabled: bool = Field(description="Whether the analytics plugin is enabled (`PLUGINS`); counts stay zero if not.")
    days: list[DailyUsage]


@bp.get("/api/users/me/analytics")
@jwt_required()
@endpoint("The caller's daily usage counted by the analytics plugin, newest day first (UTC)", tags=["plugins"],
          query=AnalyticsQuery, responses={200: AnalyticsOut})
def my_analytics(query: AnalyticsQuery):
    enabled = PLUGIN_PATH in dispatcher().plugin_ids
    return {"enabled": enabled, "days": daily_usage(kv._get_current_object(), current_user.id, query.days)}
