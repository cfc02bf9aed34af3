"""`GET /api/openapi.json`: the OpenAPI 3.1 document built from the endpoints' pydantic models."""
from __future__ import annotations

from flask import Blueprint, current_app

from web.openapi import build_document

bp = Blueprint("docs", __name__)


@bp.get("/api/openapi.json")
def openapi_document():
    doc = current_app.extensions.get("openapi_document")
    if doc is None:
        doc = build_document(current_app, "AI Chat Studio Backend", current_app.config["API_VERSION"])
        current_app.extensions["openapi_document"] = doc
    return doc
