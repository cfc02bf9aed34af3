"""Chat completions as jobs: `POST /api/chat` (202 + job), polling, listing, cancel, models."""
from __future__ import annotations

from flask import Blueprint, current_app, request
from flask_jwt_extended import current_user, jwt_required

from models import Job
from models.db import db
from schemas import wire
from schemas.jobs import ChatAiOut, ChatAiQuery, ChatRequest, JobListQuery, JobOut, JobPage, ModelsOut
from services import chat, jobs
from services.errors import Conflict, UpstreamFailed
from services.provider_keys import models_catalog
from web.openapi import endpoint
from web.pagination import paginate

bp = Blueprint("jobs", __name__)
TAGS = ["jobs"]


def accepted(job: Job):
    return wire.job(job), 202, {"Location": f"/api/jobs/{job.id}"}


def _submit(body: ChatRequest, provider: str | None = None) -> Job:
    job, _created = chat.submit_chat(db.session(), chat.Submission(
        body, current_user.id, request.headers.get("Idempotency-Key"), provider))
    return job


@bp.post("/api/chat")
@jwt_required()
@endpoint("Submit a chat completion as a job (202 + poll and stream links)", tags=TAGS, body=ChatRequest,
          responses={202: JobOut}, errors=(400, 404, 409, 503))
def submit(body: ChatRequest):
    return accepted(_submit(body))


@bp.post("/api/chat/ai")
@jwt_required()
@endpoint("Seed compatibility: submit and wait for the answer", tags=TAGS, body=ChatRequest, query=ChatAiQuery,
          responses={200: ChatAiOut}, errors=(400, 404, 409, 503, 504))
def chat_and_wait(body: ChatRequest, query: ChatAiQuery):
    job_id = _submit(body, query.provider).id
    chat.wait_for_end(current_app._get_current_object(), job_id)
    db.session.expire_all()
    job = jobs.owned_job(db.session(), current_user.id, job_id)
    if job.status != "succeeded":
        error = job.error or {"code": job.status, "message": f"job {job.status}"}
        cls = UpstreamFailed if job.status == "failed" else Conflict
        raise cls(error["message"], code=error["code"], details={"jobId": job.id})
    usage = job.result.get("usage") or {}
    return {"content": job.result["content"], "tokens": usage.get("output_tokens"), "model": job.result["model"],
            "provider": job.result["provider"], "jobId": job.id}


@bp.get("/api/jobs/<job_id>")
@jwt_required()
@endpoint("A job: status, attempts, timestamps, result or error", tags=TAGS, responses={200: JobOut},
          errors=(404,))
def get_job(job_id: str):
    return wire.job(jobs.owned_job(db.session(), current_user.id, job_id))


@bp.get("/api/jobs")
@jwt_required()
@endpoint("The caller's jobs, newest first", tags=TAGS, query=JobListQuery, responses={200: JobPage})
def list_jobs(query: JobListQuery):
    stmt = jobs.list_statement(current_user.id, query.status, query.kind, query.conversation_id)
    return paginate(stmt, (Job.created_at.desc(), Job.id.desc()), query.page, query.page_size, "jobs", wire.job)


@bp.post("/api/jobs/<job_id>/cancel")
@jwt_required()
@endpoint("Cancel a queued or running job", tags=TAGS, responses={202: JobOut, 200: JobOut}, errors=(404,))
def cancel_job(job_id: str):
    s = db.session()
    job = jobs.owned_job(s, current_user.id, job_id)
    if not jobs.cancel(s, job):
        return wire.job(job), 200
    return wire.job(db.session.get(Job, job.id, populate_existing=True)), 202


@bp.get("/api/models")
@jwt_required()
@endpoint("Configured providers and their models", tags=["models"], responses={200: ModelsOut})
def list_models():
    return {"providers": models_catalog(db.session(), current_user.id)}
