"""`/v1/batches` on the existing batches of completions: a `chat_batch` parent job with one `chat` job
per line of the input file. Results become files (OpenAI's output and error JSONL) the first time
the finished batch is read; a unique (batch, purpose) keeps that to one file each.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Job, StoredFile
from schemas import openai_wire
from services import chat_batches, jobs, v1_chat
from services.chat_batches import CHAT_BATCH
from services.errors import DomainError, InvalidRequest, NotFound, Unsupported
from services.v1_files import check_jsonl, owned_file

SUPPORTED = frozenset({"input_file_id", "endpoint", "completion_window", "metadata"})
ENDPOINT = "/v1/chat/completions"


def _check(body: Any) -> None:
    v1_chat.check_params(body, SUPPORTED)
    if body.get("endpoint") != ENDPOINT:
        raise Unsupported("endpoint", f"{body.get('endpoint')!r}: only {ENDPOINT} is supported")
    if body.get("completion_window") != "24h":
        raise InvalidRequest("completion_window must be '24h'", param="completion_window")
    if not isinstance(body.get("input_file_id"), str):
        raise InvalidRequest("input_file_id is required", param="input_file_id")


def _line_payload(s: Session, user_id: str, n: int, row: dict, cache: dict) -> dict[str, Any]:
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
            cache[key] = v1_chat.job_payload(s, user_id, spec)
        base = cache[key]
    except DomainError as exc:
        raise InvalidRequest(f"line {n} of the input file: {exc.message}", param="input_file_id",
                             code=exc.code) from None
    payload = dict(base, messages=spec.messages, system=spec.system, temperature=spec.temperature,
                   max_tokens=spec.max_tokens, stop=spec.stop,
                   v1=dict(base["v1"], user=spec.user, metadata=spec.metadata))
    payload.update(custom_id=custom_id, batch_index=n - 1)
    return payload


def create(s: Session, user_id: str, body: Any, max_items: int) -> Job:
    """A batch of completions (`services.chat_batches`), one chat job per line of the input file."""
    _check(body)
    source = owned_file(s, user_id, body["input_file_id"], param="input_file_id")
    if source.purpose != "batch":
        raise InvalidRequest("the input file's purpose must be 'batch'", param="input_file_id")
    rows = check_jsonl(source.content)
    if len(rows) > max_items:
        raise InvalidRequest(f"a batch holds at most {max_items} requests", param="input_file_id")
    cache: dict[str, dict] = {}
    payloads = [_line_payload(s, user_id, n, row, cache) for n, row in enumerate(rows, start=1)]
    seen: set[str] = set()
    for p in payloads:
        if p["custom_id"] in seen:
            raise InvalidRequest(f"custom_id {p['custom_id']!r} repeats in the input file", param="input_file_id")
        seen.add(p["custom_id"])
    return chat_batches.submit(s, user_id, payloads, v1_chat.check_metadata(body.get("metadata")),
                               extra={"v1": {"input_file_id": source.id, "endpoint": ENDPOINT,
                                             "completion_window": "24h"}})


def owned_batch(s: Session, user_id: str, batch_id: str) -> Job:
    job = s.execute(select(Job).where(Job.id == batch_id, Job.user_id == user_id,
                                      Job.kind == CHAT_BATCH)).scalar_one_or_none()
    if job is None or "v1" not in (job.payload or {}):
        raise NotFound(message=f"No batch found with id '{batch_id}'", param="batch_id")
    return job


def _result_lines(s: Session, parent: Job) -> tuple[list[str], list[str]]:
    out, err = [], []
    for child in chat_batches.children_of(s, parent.id):
        ok, line = openai_wire.batch_result_line(child)
        (out if ok else err).append(json.dumps(line))
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
    """The batch object (its result files are written the first time a finished batch is read)."""
    counts = parent.progress or chat_batches.request_counts(s, parent.id)
    return openai_wire.batch(parent, result_files(s, parent), counts)


def list_batches(s: Session, user_id: str, limit: int, after: str | None) -> tuple[list[Job], bool]:
    stmt = select(Job).where(Job.user_id == user_id, Job.kind == CHAT_BATCH,
                             Job.payload["v1"]["endpoint"].as_string() == ENDPOINT)
    if after:
        anchor = owned_batch(s, user_id, after)
        stmt = stmt.where((Job.created_at < anchor.created_at)
                          | ((Job.created_at == anchor.created_at) & (Job.id < anchor.id)))
    rows = list(s.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def cancel(s: Session, user_id: str, batch_id: str) -> Job:
    parent = owned_batch(s, user_id, batch_id)
    jobs.cancel(s, parent)
    return s.get(Job, parent.id, populate_existing=True)
