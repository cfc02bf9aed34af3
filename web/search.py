"""`/api/search`: the caller's conversation titles and messages (see `services/search.py`)."""
from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required

from models.db import db
from schemas.core import SearchOut, SearchQuery
from services.search import search
from web.openapi import endpoint

bp = Blueprint("search", __name__)


@bp.get("/api/search")
@jwt_required()
@endpoint("Search the caller's conversation titles and messages (case-insensitive substring, newest first)",
          tags=["conversations"], query=SearchQuery, responses={200: SearchOut}, errors=(422,))
def search_conversations(query: SearchQuery):
    return search(db.session(), current_user.id, query)
