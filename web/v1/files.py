"""`/v1/files`: upload a batch input (JSONL, multipart as the SDKs send it), read, download, delete."""
from __future__ import annotations

from flask import Response, request

from extensions.ext_settings import settings
from models.db import db
from schemas import openai_wire as shapes
from services import v1_files as files
from services.errors import InvalidRequest
from web.errors import ApiError
from web.openapi import endpoint
from web.pagination import limit_arg
from web.v1.common import blueprint, user_id

bp = blueprint("v1_files")
TAGS = ["openai-compatible"]
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the purpose field around the file


def _limit() -> int:
    return settings().v1_file_max_bytes


def page_args() -> tuple[int, str | None]:
    return limit_arg(20, 100), request.args.get("after") or None


def cursor_page(data: list[dict], has_more: bool) -> dict:
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": has_more}


@bp.post("/files")
@endpoint("Upload a file (`purpose: batch`, JSONL)", tags=TAGS, raw_body={"multipart/form-data": dict},
          responses={200: dict}, errors=(400, 413))
def upload_file():
    limit = _limit()
    if request.content_length is not None and request.content_length > limit + _FORM_OVERHEAD:
        raise ApiError(413, f"a file holds at most {limit} bytes", code="file_too_large")
    request.max_content_length = limit + _FORM_OVERHEAD
    if request.mimetype != "multipart/form-data":
        raise InvalidRequest("send the file as multipart/form-data with fields `file` and `purpose`", param="file")
    upload = request.files.get("file")
    if upload is None:
        raise InvalidRequest("the `file` field is required", param="file")
    purpose = request.form.get("purpose")
    if not purpose:
        raise InvalidRequest("the `purpose` field is required", param="purpose")
    data = upload.read(limit + 1)
    row = files.upload(db.session(), user_id(), upload.filename or "upload.jsonl", purpose, data, limit)
    return shapes.file_object(row)


@bp.get("/files")
@endpoint("The caller's files, newest first (cursor page)", tags=TAGS, responses={200: dict}, errors=(400, 404))
def list_files():
    limit, after = page_args()
    rows, more = files.list_files(db.session(), user_id(), request.args.get("purpose"), limit, after)
    return cursor_page([shapes.file_object(r) for r in rows], more)


@bp.get("/files/<file_id>")
@endpoint("A file object", tags=TAGS, responses={200: dict}, errors=(404,))
def get_file(file_id: str):
    return shapes.file_object(files.owned_file(db.session(), user_id(), file_id))


@bp.get("/files/<file_id>/content")
@endpoint("A file's content", tags=TAGS, responses={200: ("application/octet-stream", None)}, errors=(404,))
def file_content(file_id: str):
    row = files.owned_file(db.session(), user_id(), file_id)
    return Response(row.content, mimetype="application/jsonl",
                    headers={"Content-Disposition": f'attachment; filename="{row.filename}"'})


@bp.delete("/files/<file_id>")
@endpoint("Delete a file", tags=TAGS, responses={200: dict}, errors=(404,))
def delete_file(file_id: str):
    return files.delete_file(db.session(), user_id(), file_id)
