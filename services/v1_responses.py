"""The Responses API (text in, text out) over chat jobs: create, read, stream and resume, cancel, delete.

A response is a `chat` job plus a `responses` row. Its event stream is derived from the job's
event log (the Redis Stream every relay reads) by a deterministic translation, so replaying the
log from the start always numbers the events the same way: resuming with `starting_after=N`
is "replay, skip up to N". The log is the record; nothing about the stream lives in a web process.
"""
from __future__ import annotations

from typing import Any, Iterator

from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import Job, StoredResponse, new_id
from realtime.job_stream import follow_job
from realtime.relay import Cursor
from schemas.openai_wire import response as render
from schemas.openai_wire import response_item
from services import jobs, v1_models
from services.chat import chat_payload, submit_payload
from services.errors import Conflict, InvalidRequest, NotFound, Unsupported
from services.v1_chat import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE,
    MAX_TOKENS_LIMIT,
    check_metadata,
    check_params,
    split_messages,
    starts_over,
    wait_for_job,
)

CANCEL_WAIT_SECONDS = 5.0  # how long a cancel waits for the running attempt to stop
SUPPORTED = frozenset({"model", "input", "instructions", "previous_response_id", "max_output_tokens", "metadata",
                       "background", "stream", "store", "temperature", "user", "text"})


def _input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not 1 <= len(value) <= 500:
        raise InvalidRequest("input must be a string or a list of 1 to 500 message items", param="input")
    for i, item in enumerate(value):
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind != "message":
            raise Unsupported(f"input[{i}]", f"has type {kind!r}: only message items with text are supported")
    return value


def _flag(body: dict, name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be a boolean", param=name)
    return bool(value)


def _check_params(body: Any) -> None:
    check_params(body, SUPPORTED)
    if body.get("store") is False:
        raise Unsupported("store", "false is not supported: every response is a stored job")
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else body.get("text")
    if body.get("text") is not None and (not isinstance(body["text"], dict) or set(body["text"]) - {"format"}
                                         or (fmt is not None and fmt != {"type": "text"})):
        raise Unsupported("text", "other than {'format': {'type': 'text'}} is not supported")


def _numbers(body: dict) -> tuple[int, float]:
    max_out = body.get("max_output_tokens")
    if max_out is None:
        max_out = DEFAULT_MAX_TOKENS
    elif not isinstance(max_out, int) or isinstance(max_out, bool) or not 1 <= max_out <= MAX_TOKENS_LIMIT:
        raise InvalidRequest(f"max_output_tokens must be an integer from 1 to {MAX_TOKENS_LIMIT}",
                             param="max_output_tokens")
    temp = body.get("temperature")
    if temp is None:
        temp = DEFAULT_TEMPERATURE
    elif not isinstance(temp, (int, float)) or isinstance(temp, bool) or not 0 <= temp <= 2:
        raise InvalidRequest("temperature must be a number from 0 to 2", param="temperature")
    return max_out, float(temp)


def _history(s: Session, user_id: str, previous_id: str | None) -> list[dict[str, str]]:
    """The conversation so far when continuing `previous_response_id` (its input and its answer)."""
    if previous_id is None:
        return []
    prev, job = owned_response(s, user_id, previous_id, param="previous_response_id")
    if job.status != "succeeded":
        raise InvalidRequest(f"previous response '{previous_id}' has not completed (it is {job.status})",
                             param="previous_response_id")
    return list(job.payload["messages"]) + [{"role": "assistant", "content": (job.result or {}).get("content", "")}]


def _checked(s: Session, user_id: str, body: Any) -> dict[str, Any]:
    """The request's parts, checked; the messages include the conversation `previous_response_id` names."""
    _check_params(body)
    items = _input_items(body.get("input"))
    system, turns = split_messages(items, "input")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise Unsupported("instructions", "must be a string here")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > 256):
        raise InvalidRequest("user must be a string of at most 256 characters", param="user")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise InvalidRequest("previous_response_id must be a string", param="previous_response_id")
    if not turns:
        raise InvalidRequest("input must contain at least one user or assistant message", param="input")
    max_out, temperature = _numbers(body)
    return {"items": items, "instructions": instructions, "user": user, "previous": previous,
            "system": "\n\n".join(t for t in (instructions, system) if t) or None,
            "messages": _history(s, user_id, previous) + turns, "max_out": max_out, "temperature": temperature,
            "metadata": check_metadata(body.get("metadata")), "background": _flag(body, "background"),
            "stream": _flag(body, "stream")}


def create(s: Session, user_id: str, body: Any) -> tuple[StoredResponse, Job]:
    """A `chat` job and its response row, committed together, then enqueued."""
    req = _checked(s, user_id, body)
    provider, model, public_id = v1_models.resolve(s, user_id, body.get("model"))
    resp = StoredResponse(id=new_id("resp"), user_id=user_id, model=public_id, instructions=req["instructions"],
                          previous_response_id=req["previous"], input_items=req["items"], meta=req["metadata"],
                          background=req["background"], max_output_tokens=body.get("max_output_tokens"),
                          temperature=body.get("temperature"), user_tag=req["user"])
    payload = chat_payload(provider, model, req["messages"], system=req["system"], temperature=req["temperature"],
                           max_tokens=req["max_out"], stop=None,
                           v1={"api": "responses", "model": public_id, "response_id": resp.id,
                               "metadata": req["metadata"], "stream": req["stream"]})

    def attach(job: Job) -> None:
        resp.job_id = job.id
        s.add(resp)

    job = submit_payload(s, user_id, payload, attach=attach)
    return resp, job


def owned_response(s: Session, user_id: str, response_id: str,
                   param: str = "response_id") -> tuple[StoredResponse, Job]:
    row = s.execute(select(StoredResponse, Job).join(Job, Job.id == StoredResponse.job_id).where(
        StoredResponse.id == response_id, StoredResponse.user_id == user_id)).first()
    if row is None:
        raise NotFound(message=f"Response with id '{response_id}' not found.", param=param)
    return row[0], row[1]


def cancel(app: Flask, s: Session, user_id: str, response_id: str) -> dict[str, Any]:
    resp, job = owned_response(s, user_id, response_id)
    if not resp.background:
        raise InvalidRequest("Only responses created with background=true can be cancelled", param="response_id")
    if jobs.cancel(s, job):
        job = wait_for_job(app, s, job.id, CANCEL_WAIT_SECONDS) or s.get(Job, job.id, populate_existing=True)
        resp = s.get(StoredResponse, resp.id)
    if job.status == "succeeded":
        raise Conflict(f"Response '{response_id}' already completed and cannot be cancelled")
    return render(resp, job)


def delete_response(app: Flask, s: Session, user_id: str, response_id: str) -> dict[str, Any]:
    _resp, job = owned_response(s, user_id, response_id)
    if jobs.cancel(s, job):  # stop the work first, so no follower waits on a job that is gone
        wait_for_job(app, s, job.id, CANCEL_WAIT_SECONDS)
    s.execute(delete(Job).where(Job.id == job.id, Job.user_id == user_id))  # cascades to the response row
    s.commit()
    return {"id": response_id, "object": "response.deleted", "deleted": True}


class _Translator:
    """Job events -> Responses stream events, numbered 0, 1, 2, ... in one deterministic pass."""

    def __init__(self, s: Session, resp: StoredResponse, job: Job) -> None:
        self.s, self.resp, self.job = s, resp, job
        self.seq = -1
        self.started = False
        self.item_open = False
        self.ended = False  # the stream stopped before the job's end (the answer started over)
        self.item_id = response_item(resp, None, "in_progress")["id"]

    def _ev(self, type_: str, **data: Any) -> dict[str, Any]:
        self.seq += 1
        return {"type": type_, "sequence_number": self.seq, **data}

    def opening(self) -> list[dict[str, Any]]:
        return [self._ev("response.created",
                         response=render(self.resp, self.job, "queued" if self.resp.background else "in_progress"))]

    def _open_item(self) -> list[dict[str, Any]]:
        if self.item_open:
            return []
        self.item_open = True
        return [self._ev("response.output_item.added", output_index=0, item=response_item(self.resp, None, "in_progress")),
                self._ev("response.content_part.added", item_id=self.item_id, output_index=0, content_index=0,
                         part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})]

    def translate(self, type_: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.item_open and starts_over(type_, data):
            self.ended = True
            return [self._ev("error", code="answer_restarted", param=None,
                             message="the answer started over (the provider failed mid-answer or the event log was "
                                     f"lost); fetch the final response with GET /v1/responses/{self.resp.id}")]
        if type_ in ("started", "token") and not self.started:
            self.started = True
            out.append(self._ev("response.in_progress", response=render(self.resp, self.job, "in_progress")))
        if type_ == "token":
            out += self._open_item()
            out.append(self._ev("response.output_text.delta", item_id=self.item_id, output_index=0,
                                content_index=0, delta=data.get("text", ""), logprobs=[]))
        elif type_ in ("completed", "cancelled", "failed"):
            out += self._closing(type_)
        return out

    def _closing(self, type_: str) -> list[dict[str, Any]]:
        job = self.s.get(Job, self.job.id, populate_existing=True) or self.job
        final = render(self.resp, job)
        if type_ == "failed":
            return [self._ev("response.failed", response=final)]
        out = self._open_item()
        text = (job.result or {}).get("content", "")
        item = final["output"][0] if final["output"] else response_item(self.resp, text, "incomplete")
        part = item["content"][0]
        out += [self._ev("response.output_text.done", item_id=self.item_id, output_index=0, content_index=0,
                         text=text, logprobs=[]),
                self._ev("response.content_part.done", item_id=self.item_id, output_index=0, content_index=0,
                         part=part),
                self._ev("response.output_item.done", output_index=0, item=item)]
        if final["status"] in ("completed", "incomplete"):
            out.append(self._ev(f"response.{final['status']}", response=final))
        return out


def stream_events(app: Flask, s: Session, resp: StoredResponse, job: Job, starting_after: int = -1,
                  idle_timeout: float = 15.0) -> Iterator[dict[str, Any] | None]:
    """Every event of the response after `starting_after`, live, until the end (None while idle)."""
    tr = _Translator(s, resp, job)
    for ev in tr.opening():
        if ev["sequence_number"] > starting_after:
            yield ev
    s.close()
    for event in follow_job(app, job.id, Cursor(), idle_timeout=idle_timeout):
        if event is None:
            yield None
            continue
        for ev in tr.translate(event.type, event.data):
            if ev["sequence_number"] > starting_after:
                yield ev
        s.close()
        if event.terminal or tr.ended:
            return
