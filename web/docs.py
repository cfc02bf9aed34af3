"""`GET /api/openapi.json`: the OpenAPI 3.1 document built from the endpoints' pydantic models; `GET /api`:
an index pointing at it (the address `dev.py run` prints)."""
from __future__ import annotations

from flask import Blueprint, current_app
from pydantic import BaseModel

from extensions.slot import Slot
from web.openapi import build_document, endpoint


class ApiIndexOut(BaseModel):
    name: str
    version: str
    links: dict[str, str]


bp = Blueprint("docs", __name__)
_document: Slot[dict] = Slot("openapi_document")


@bp.get("/api/openapi.json")
def openapi_document():
    doc = _document.find()
    if doc is None:  # built on first request: every route is registered by then
        doc = _document.set(current_app, build_document(current_app, "AI Chat Studio Backend",
                                                        current_app.config["API_VERSION"]))
    return doc


@bp.get("/api")
@endpoint("Where to start: the API's version and links to its document, health and main resources", tags=["health"],
          responses={200: ApiIndexOut}, auth=False)
def api_index():
    return {"name": "AI Chat Studio Backend", "version": current_app.config["API_VERSION"], "links": {
        "openapi": "/api/openapi.json", "health": "/healthz", "ready": "/readyz", "register": "/api/auth/register",
        "login": "/api/auth/login", "conversations": "/api/conversations", "chat": "/api/chat", "jobs": "/api/jobs",
        "models": "/api/models", "rooms": "/api/rooms"}}
