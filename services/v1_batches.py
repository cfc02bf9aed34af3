"""`/v1/batches` on the existing batches of completions: a `chat_batch` parent job with one `chat` job
per line of the input file. Results become files (OpenAI's output and error JSONL) the first time
the finished batch is read; a unique (batch, purpose) keeps that to one file each.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Job, StoredFile, now_ms
from services import v1_chat
from services import v1_gateway as gw
from services.errors import InvalidRequest, NotFound, ServiceError, Unsupported
from services.openai_shapes import chat_completion, seconds
from services.v1_files import check_jsonl, owned_file

SUPPORTED = frozenset({"input_file_id", "endpoint", "completion_window", "metadata"})
ENDPOINT = "/v1/chat/completions"
WINDOW_MS = 24 * 3600 * 1000


def _check(body: Any) -> None:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    for name, value in body.items():
        if name not in SUPPORTED and value is not None:
            raise Unsupported(name)
    if body.get("endpoint") != ENDPOINT:
        raise Unsupported("endpoint", f"{body.get('endpoint')!r}: only {ENDPOINT} is supported")
    if body.get("completion_window") != "24h":
        raise InvalidRequest("completion_window must be '24h'", param="completion_window")
    if not isinstance(body.get("input_file_id"), str):
        raise InvalidRequest("input_file_id is required", param="input_file_id")


def _line_payload(app: Flask, s: Session, user_id: str, n: int, row: dict, cache: dict) -> dict[str, Any]:
    """The child job's payload for line `n`; any problem is a 400 naming the line."""
    try:
        if set(row) - {"custom_id", "method", "url", "body"}:
            raise Unsupported(sorted(set(row) - {"custom_id", "method", "url", "body"})[0])
        if row.get("method") != "POST" or row.get("url") != ENDPOINT:
            raise InvalidRequest(f"method must be POST and url {ENDPOINT}")
        custom_id = row.get("custom_id")
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 64:
            raise InvalidRequest("custom_id must be a string of 1 to 64 characters")
        spec = v1_chat.parse_chat(row.get("body"))
        if spec.stream:
            raise Unsupported("body.stream", "is not supported in a batch")
        key = json.dumps(spec.model)
        if key not in cache:
            cache[key] = v1_chat.job_payload(app, s, user_id, spec)
        base = cache[key]
    except ServiceError as exc:
        raise InvalidRequest(f"line {n} of the input file: {exc.message}", param="input_file_id",
                             code=exc.code) from None
    payload = dict(base, messages=spec.messages, system=spec.system, temperature=spec.temperature,
                   max_tokens=spec.max_tokens, stop=spec.stop,
                   v1=dict(base["v1"], user=spec.user, metadata=spec.metadata))
    payload.update(custom_id=custom_id, batch_index=n - 1)
    return payload


def create(app: Flask, s: Session, user_id: str, body: Any, max_items: int) -> Job:
    _check(body)
    source = owned_file(s, user_id, body["input_file_id"], param="input_file_id")
    if source.purpose != "batch":
        raise InvalidRequest("the input file's purpose must be 'batch'", param="input_file_id")
    rows = check_jsonl(source.content)
    if len(rows) > max_items:
        raise InvalidRequest(f"a batch holds at most {max_items} requests", param="input_file_id")
    cache: dict[str, dict] = {}
    payloads = [_line_payload(app, s, user_id, n, row, cache) for n, row in enumerate(rows, start=1)]
    seen: set[str] = set()
    for p in payloads:
        if p["custom_id"] in seen:
            raise InvalidRequest(f"custom_id {p['custom_id']!r} repeats in the input file", param="input_file_id")
        seen.add(p["custom_id"])
    counts = {"total": len(payloads), "completed": 0, "failed": 0, "cancelled": 0}
    parent = Job(user_id=user_id, kind=gw.chat_batch_kind(), status="running", started_at=now_ms(), progress=counts,
                 payload={"metadata": v1_chat.check_metadata(body.get("metadata")),
                          "v1": {"input_file_id": source.id, "endpoint": ENDPOINT, "completion_window": "24h"}})
    s.add(parent)
    s.flush()
    children = [Job(user_id=user_id, kind="chat", status="queued", parent_id=parent.id, payload=p) for p in payloads]
    s.add_all(children)
    s.commit()
    gw.enqueue_batch(parent, children)
    return parent


def owned_batch(s: Session, user_id: str, batch_id: str) -> Job:
    job = s.execute(select(Job).where(Job.id == batch_id, Job.user_id == user_id,
                                      Job.kind == gw.chat_batch_kind())).scalar_one_or_none()
    if job is None or "v1" not in (job.payload or {}):
        raise NotFound(f"No batch found with id '{batch_id}'", param="batch_id")
    return job


def _result_lines(s: Session, parent: Job) -> tuple[list[str], list[str]]:
    children = sorted(s.scalars(select(Job).where(Job.parent_id == parent.id)), key=lambda j: j.payload["batch_index"])
    out, err = [], []
    for c in children:
        line: dict[str, Any] = {"id": "batch_req_" + c.id.split("_", 1)[-1], "custom_id": c.payload["custom_id"]}
        if c.status == "succeeded":
            line.update(response={"status_code": 200, "request_id": c.id, "body": chat_completion(c)}, error=None)
            out.append(json.dumps(line))
        else:
            error = c.error or {"code": "batch_cancelled", "message": "the batch was cancelled before this request ran"}
            line.update(response=None, error={"code": error.get("code"), "message": error.get("message")})
            err.append(json.dumps(line))
    return out, err


def result_files(s: Session, parent: Job) -> dict[str, str | None]:
    """{purpose: file id} of a finished batch's results, written on first read."""
    existing = {f.purpose: f.id for f in s.scalars(select(StoredFile).where(StoredFile.batch_id == parent.id))}
    if not parent.is_terminal or existing:
        return existing
    out, err = _result_lines(s, parent)
    for purpose, lines in (("batch_output", out), ("batch_error", err)):
        if lines:
            data = ("\n".join(lines) + "\n").encode()
            s.add(StoredFile(user_id=parent.user_id, purpose=purpose, filename=f"{parent.id}_{purpose}.jsonl",
                             bytes=len(data), content=data, batch_id=parent.id))
    try:
        s.commit()
    except IntegrityError:  # a concurrent reader wrote them first
        s.rollback()
    return {f.purpose: f.id for f in s.scalars(select(StoredFile).where(StoredFile.batch_id == parent.id))}


def render(s: Session, parent: Job) -> dict[str, Any]:
    v1 = parent.payload["v1"]
    counts = parent.progress or gw.request_counts(s, parent.id)
    if parent.status == "succeeded":
        status = "completed"
    elif parent.status == "cancelled":
        status = "cancelled"
    else:
        status = "cancelling" if parent.cancel_requested else "in_progress"
    files = result_files(s, parent)
    ended = seconds(parent.finished_at)
    return {
        "id": parent.id, "object": "batch", "endpoint": v1["endpoint"], "errors": None,
        "input_file_id": v1["input_file_id"], "completion_window": v1["completion_window"], "status": status,
        "output_file_id": files.get("batch_output"), "error_file_id": files.get("batch_error"),
        "created_at": seconds(parent.created_at), "in_progress_at": seconds(parent.started_at),
        "expires_at": seconds(parent.created_at + WINDOW_MS), "finalizing_at": ended if status == "completed" else None,
        "completed_at": ended if status == "completed" else None, "failed_at": None, "expired_at": None,
        "cancelling_at": None, "cancelled_at": ended if status == "cancelled" else None,
        "request_counts": {"total": counts["total"], "completed": counts["completed"], "failed": counts["failed"]},
        "metadata": parent.payload.get("metadata"),
    }


def list_batches(s: Session, user_id: str, limit: int, after: str | None) -> tuple[list[Job], bool]:
    stmt = select(Job).where(Job.user_id == user_id, Job.kind == gw.chat_batch_kind(),
                             Job.payload["v1"]["endpoint"].as_string() == ENDPOINT)
    if after:
        anchor = owned_batch(s, user_id, after)
        stmt = stmt.where((Job.created_at < anchor.created_at)
                          | ((Job.created_at == anchor.created_at) & (Job.id < anchor.id)))
    rows = list(s.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def cancel(s: Session, user_id: str, batch_id: str) -> Job:
    parent = owned_batch(s, user_id, batch_id)
    if not parent.is_terminal:
        gw.cancel_batch(parent)
    return s.get(Job, parent.id, populate_existing=True)
