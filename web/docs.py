"""`GET /api/openapi.json`: the OpenAPI 3.1 document built from the endpoints' pydantic models."""
from __future__ import annotations

from flask import Blueprint, current_app

from extensions.slot import Slot
from web.openapi import build_document

bp = Blueprint("docs", __name__)
_document: Slot[dict] = Slot("openapi_document")


@bp.get("/api/openapi.json")
def openapi_document():
    doc = _document.find()
    if doc is None:  # built on first request: every route is registered by then
        doc = _document.set(current_app, build_document(current_app, "AI Chat Studio Backend",
                                                        current_app.config["API_VERSION"]))
    return doc
