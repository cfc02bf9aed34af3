"""`/v1/chat/completions`: OpenAI's chat completions, each one a `chat` job on our queue.

The answer carries the job id (`x-job-id`, and the completion `id` is the job id). A client that
goes away mid-stream leaves the job running; `GET /v1/chat/completions/<id>` returns its answer.
"""
from __future__ import annotations

from typing import Iterator

from extensions.ext_settings import settings
from models import Job
from models.db import db
from realtime.job_stream import follow_job
from realtime.relay import Cursor
from schemas import openai_wire as shapes
from services import v1_chat
from services.errors import TimedOut, UpstreamFailed
from services.v1_chat import starts_over
from web.openapi import endpoint
from web.v1.common import app_obj, blueprint, json_body, keepalive, sse, sse_response, user_id

bp = blueprint("v1_chat")
TAGS = ["openai-compatible"]


def _failure(job: Job) -> UpstreamFailed:
    error = job.error or {"code": job.status, "message": f"the job ended {job.status}"}
    retryable = error.get("code") in ("provider_unavailable", "provider_timeout", "rate_limited")
    return UpstreamFailed(f"{error.get('message')} (job {job.id})", code=error.get("code"), retryable=retryable)


@bp.post("/chat/completions")
@endpoint("OpenAI chat completion (streamed as SSE with `stream: true`), run as a job", tags=TAGS,
          raw_body={"application/json": dict}, responses={200: dict}, errors=(400, 404, 409, 502, 503, 504))
def create_chat_completion():
    spec = v1_chat.parse_chat(json_body())
    app = app_obj()
    s = db.session()
    job = v1_chat.submit(s, user_id(), spec)
    headers = {"x-job-id": job.id, "Location": f"/v1/chat/completions/{job.id}"}
    if spec.stream:
        return sse_response(_stream(app, job, spec.include_usage), headers)
    done = v1_chat.wait_for_job(app, s, job.id, settings(app).chat_wait_timeout)
    if done is None:
        raise TimedOut(f"the completion did not finish in time; fetch it with GET /v1/chat/completions/{job.id}")
    if done.status != "succeeded":
        raise _failure(done)
    return shapes.chat_completion(done), 200, headers


def _stream(app, job: Job, include_usage: bool) -> Iterator[str]:
    yield sse(shapes.chunk(job, {"role": "assistant", "content": "", "refusal": None}, include_usage=include_usage))
    sent = False
    for event in follow_job(app, job.id, Cursor(), idle_timeout=keepalive()):
        if event is None:
            yield ": keep-alive\n\n"
        elif event.type == "token":
            sent = True
            yield sse(shapes.chunk(job, {"content": event.data.get("text", "")}, include_usage=include_usage))
        elif sent and starts_over(event.type, event.data):
            yield sse(shapes.error_body("answer_restarted", "the provider failed mid-answer and the job started it "
                                        f"again; fetch the final answer with GET /v1/chat/completions/{job.id}",
                                        "server_error"))
            return
        elif event.type == "failed":
            error = event.data.get("error") or {}
            yield sse(shapes.error_body(error.get("code") or "failed", error.get("message") or "the job failed",
                                        "server_error"))
            return
        elif event.terminal:  # completed or cancelled
            result = event.data.get("result") or {}
            yield sse(shapes.chunk(job, {}, shapes.finish_reason(result), include_usage=include_usage))
            if include_usage:
                yield sse(dict(shapes.chunk(job, None), usage=shapes.usage_of(result)))
            yield sse("[DONE]")
            return


@bp.get("/chat/completions/<completion_id>")
@endpoint("A chat completion by id (its job): the answer once done, `status` while it runs", tags=TAGS,
          responses={200: dict}, errors=(404,))
def get_chat_completion(completion_id: str):
    return shapes.chat_completion(v1_chat.owned_completion(db.session(), user_id(), completion_id))
