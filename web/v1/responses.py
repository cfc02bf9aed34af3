"""`/v1/responses`: OpenAI's Responses API (text), background mode, resumable streams, cancel, delete."""
from __future__ import annotations

from typing import Iterator

from flask import request

from extensions.ext_settings import settings
from models.db import db
from schemas.openai_wire import response as render
from services import v1_responses as responses
from services.errors import InvalidRequest, TimedOut
from services.v1_chat import wait_for_job
from web.openapi import endpoint
from web.v1.common import app_obj, blueprint, json_body, keepalive, sse, sse_response, user_id

bp = blueprint("v1_responses")
TAGS = ["openai-compatible"]


def _stream(app, resp, job, starting_after: int) -> Iterator[str]:
    for ev in responses.stream_events(app, db.session(), resp, job, starting_after, idle_timeout=keepalive()):
        yield ": keep-alive\n\n" if ev is None else sse(ev, ev["type"])


@bp.post("/responses")
@endpoint("Create a response (text); `background` runs it detached, `stream` sends its events", tags=TAGS,
          raw_body={"application/json": dict}, responses={200: dict}, errors=(400, 404, 503, 504))
def create_response():
    app = app_obj()
    body = json_body()
    resp, job = responses.create(db.session(), user_id(), body)
    headers = {"x-job-id": job.id}
    if body.get("stream"):
        return sse_response(_stream(app, resp, job, -1), headers)
    if not resp.background:
        done = wait_for_job(app, db.session(), job.id, settings(app).chat_wait_timeout)
        if done is None:
            raise TimedOut(f"the response did not finish in time; fetch it with GET /v1/responses/{resp.id}")
        job = done
    return render(resp, job), 200, headers


def _starting_after() -> int:
    raw = request.args.get("starting_after")
    if raw in (None, ""):
        return -1
    try:
        value = int(raw)
    except ValueError:
        value = -2
    if value < -1:
        raise InvalidRequest("starting_after must be a non-negative integer", param="starting_after")
    return value


@bp.get("/responses/<response_id>")
@endpoint("A response; with `stream=true` its events again, after `starting_after`", tags=TAGS,
          responses={200: dict}, errors=(400, 404))
def get_response(response_id: str):
    resp, job = responses.owned_response(db.session(), user_id(), response_id)
    if request.args.get("stream", "").lower() == "true":
        after = _starting_after()
        return sse_response(_stream(app_obj(), resp, job, after), {"x-job-id": job.id})
    return render(resp, job)


@bp.post("/responses/<response_id>/cancel")
@endpoint("Cancel a background response", tags=TAGS, responses={200: dict}, errors=(400, 404, 409))
def cancel_response(response_id: str):
    return responses.cancel(app_obj(), db.session(), user_id(), response_id)


@bp.delete("/responses/<response_id>")
@endpoint("Delete a response (and its job)", tags=TAGS, responses={200: dict}, errors=(404,))
def delete_response(response_id: str):
    return responses.delete_response(app_obj(), db.session(), user_id(), response_id)
