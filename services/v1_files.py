"""`/v1/files`: batch input files uploaded by users, and the output/error files their batches produce."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import StoredFile
from services.errors import InvalidRequest, NotFound, Unsupported

UPLOAD_PURPOSES = ("batch",)


def check_jsonl(data: bytes) -> list[dict[str, Any]]:
    """The objects of a JSONL file, one per non-empty line; a clear error names the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the file is not UTF-8 text", param="file") from None
    if "\x00" in text:
        raise InvalidRequest("the file contains NUL characters", param="file")
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise InvalidRequest(f"line {n} of the file is not valid JSON", param="file") from None
        if not isinstance(row, dict):
            raise InvalidRequest(f"line {n} of the file is not a JSON object", param="file")
        rows.append(row)
    if not rows:
        raise InvalidRequest("the file holds no requests", param="file")
    return rows


def upload(s: Session, user_id: str, filename: str, purpose: str, data: bytes, max_bytes: int) -> StoredFile:
    if purpose not in UPLOAD_PURPOSES:
        raise Unsupported("purpose", f"{purpose!r}: files are accepted for: {', '.join(UPLOAD_PURPOSES)}")
    if len(data) > max_bytes:
        raise InvalidRequest(f"the file is larger than {max_bytes} bytes", param="file")
    check_jsonl(data)
    row = StoredFile(user_id=user_id, purpose=purpose, filename=(filename or "upload.jsonl")[:255],
                     bytes=len(data), content=data)
    s.add(row)
    s.commit()
    return row


def owned_file(s: Session, user_id: str, file_id: str, param: str = "file_id") -> StoredFile:
    row = s.execute(select(StoredFile).where(StoredFile.id == file_id, StoredFile.user_id == user_id)
                    ).scalar_one_or_none()
    if row is None:
        raise NotFound(message=f"No such File object: {file_id}", param=param)
    return row


def list_files(s: Session, user_id: str, purpose: str | None, limit: int, after: str | None) -> tuple[list, bool]:
    stmt = select(StoredFile).where(StoredFile.user_id == user_id)
    if purpose:
        stmt = stmt.where(StoredFile.purpose == purpose)
    if after:
        anchor = owned_file(s, user_id, after, param="after")
        stmt = stmt.where((StoredFile.created_at < anchor.created_at)
                          | ((StoredFile.created_at == anchor.created_at) & (StoredFile.id < anchor.id)))
    rows = list(s.scalars(stmt.order_by(StoredFile.created_at.desc(), StoredFile.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def delete_file(s: Session, user_id: str, file_id: str) -> dict[str, Any]:
    owned_file(s, user_id, file_id)
    s.execute(delete(StoredFile).where(StoredFile.id == file_id, StoredFile.user_id == user_id))
    s.commit()
    return {"id": file_id, "object": "file", "deleted": True}
