"""`/api/conversations/export` and `/import`: NDJSON in and out (see `services/transfer.py`)."""
from __future__ import annotations

import json
from typing import Iterator

from flask import Blueprint, Response, request, stream_with_context
from flask_jwt_extended import current_user, jwt_required

from extensions.ext_settings import settings
from models.db import db
from schemas.core import ImportOut
from services.transfer import ExportedConversation, Importer, export_lines
from web.errors import ApiError
from web.openapi import endpoint

bp = Blueprint("transfer", __name__, url_prefix="/api/conversations")
TAGS = ["conversations"]
NDJSON = "application/x-ndjson"


@bp.get("/export")
@jwt_required()
@endpoint("All the caller's conversations with their messages, streamed as NDJSON (one per line)", tags=TAGS,
          responses={200: (NDJSON, ExportedConversation)})
def export_conversations():
    lines = export_lines(db.engine, current_user.id)
    return Response(stream_with_context(lines), mimetype=NDJSON,
                    headers={"Content-Disposition": 'attachment; filename="conversations.ndjson"'})


def _body_lines() -> Iterator[tuple[int, bytes]]:
    """The body's non-blank lines: NDJSON read as a stream, or a JSON array of conversations."""
    limit = settings().import_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"an import holds at most {limit} bytes", code="payload_too_large")
    request.max_content_length = limit
    if request.mimetype in (NDJSON, "application/jsonl", "application/x-jsonlines"):
        for line_no, raw in enumerate(request.stream, start=1):
            if raw.strip():
                yield line_no, raw
    elif request.mimetype == "application/json":
        try:
            items = json.loads(request.get_data(cache=False) or b"null")
        except ValueError:
            raise ApiError(400, "request body is not valid JSON", code="invalid_json") from None
        if not isinstance(items, list):
            raise ApiError(422, "a JSON import body is an array of conversations", code="validation_error")
        for index, item in enumerate(items, start=1):
            yield index, json.dumps(item).encode()
    else:
        raise ApiError(415, f"Content-Type must be {NDJSON} (or application/json with an array)")


@bp.post("/import")
@jwt_required()
@endpoint("Import conversations from NDJSON (the export's format); idempotent by id; reports what was "
          "created, skipped and rejected", tags=TAGS,
          raw_body={NDJSON: ExportedConversation, "application/json": list[ExportedConversation]},
          responses={200: ImportOut}, errors=(413, 415))
def import_conversations():
    importer = Importer(db.session(), current_user.id, settings().default_model)
    for line_no, raw in _body_lines():
        importer.add(line_no, raw)
    importer.flush()
    return importer.report.to_wire()
