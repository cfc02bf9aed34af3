"""OpenAI's wire objects built from our rows (`/v1`): chat completions and chunks, responses, files,
batches, error lines.

Timestamps are Unix seconds as OpenAI sends them (our `/api` uses epoch milliseconds).
"""
from __future__ import annotations

from typing import Any

from models import Job, StoredFile, StoredResponse

_LENGTH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})
_RESPONSE_STATUS = {"queued": "queued", "running": "in_progress", "failed": "failed", "cancelled": "cancelled"}
BATCH_WINDOW_MS = 24 * 3600 * 1000


def seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def public_model(job: Job) -> str:
    p = job.payload or {}
    return (p.get("v1") or {}).get("model") or f"{p.get('provider')}/{p.get('model')}"


def finish_reason(result: dict | None) -> str:
    """OpenAI's two text finish reasons from whatever the vendor said."""
    return "length" if (result or {}).get("finish_reason") in _LENGTH_REASONS else "stop"


def usage_of(result: dict | None) -> dict[str, int] | None:
    u = (result or {}).get("usage")
    if not u:
        return None
    return {"prompt_tokens": u["input_tokens"], "completion_tokens": u["output_tokens"],
            "total_tokens": u["input_tokens"] + u["output_tokens"]}


def chat_completion(job: Job) -> dict[str, Any]:
    """A `chat.completion` of a finished job (`status` is ours: the job's state, for polling)."""
    result = job.result or {}
    done = job.status == "succeeded"
    return {
        "id": job.id, "object": "chat.completion", "created": seconds(job.created_at), "model": public_model(job),
        "system_fingerprint": None, "service_tier": None,
        "choices": [{"index": 0, "logprobs": None,
                     "finish_reason": finish_reason(result) if done else None,
                     "message": {"role": "assistant", "content": result.get("content") if done else None,
                                 "refusal": None, "annotations": []}}],
        "usage": usage_of(result),
        "metadata": ((job.payload or {}).get("v1") or {}).get("metadata"),
        "status": job.status,
    }


def chunk(job: Job, delta: dict[str, Any] | None, finish: str | None = None,
          include_usage: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id, "object": "chat.completion.chunk", "created": seconds(job.created_at),
        "model": public_model(job), "system_fingerprint": None,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if include_usage:
        out["usage"] = None
    return out


def file_object(f: StoredFile) -> dict[str, Any]:
    return {"id": f.id, "object": "file", "bytes": f.bytes, "created_at": seconds(f.created_at),
            "filename": f.filename, "purpose": f.purpose, "status": "processed", "expires_at": None,
            "status_details": None}


def error_body(code: str, message: str, type_: str = "invalid_request_error",
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def response_status(job: Job) -> str:
    """The Responses API status of the job behind a response."""
    if job.status == "succeeded":
        return "incomplete" if (job.result or {}).get("finish_reason") in _LENGTH_REASONS else "completed"
    return _RESPONSE_STATUS[job.status]


def response_item(resp: StoredResponse, text: str | None, status: str) -> dict[str, Any]:
    """The one assistant message item of a response's output."""
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": "msg_" + resp.id.split("_", 1)[-1], "type": "message", "role": "assistant", "status": status,
            "content": content}


def _response_usage(usage: dict | None) -> dict[str, Any] | None:
    if not usage:
        return None
    return {"input_tokens": usage["input_tokens"], "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["input_tokens"] + usage["output_tokens"]}


def response(resp: StoredResponse, job: Job, status: str | None = None) -> dict[str, Any]:
    """The `response` object; `status` overrides the row's (the snapshots early stream events carry)."""
    status = status or response_status(job)
    result = job.result or {}
    output = []
    if status in ("completed", "incomplete", "cancelled") and job.result is not None:
        output = [response_item(resp, result.get("content", ""),
                                "completed" if status == "completed" else "incomplete")]
    return {
        "id": resp.id, "object": "response", "created_at": seconds(resp.created_at), "status": status,
        "background": resp.background, "model": resp.model, "instructions": resp.instructions,
        "previous_response_id": resp.previous_response_id, "max_output_tokens": resp.max_output_tokens,
        "metadata": resp.meta or {}, "temperature": resp.temperature, "top_p": None, "user": resp.user_tag,
        "output": output, "parallel_tool_calls": False, "tool_choice": "none", "tools": [], "store": True,
        "text": {"format": {"type": "text"}}, "truncation": "disabled", "reasoning": None,
        "error": {"code": "server_error", "message": (job.error or {}).get("message", "the response failed")}
        if status == "failed" else None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "completed_at": seconds(job.finished_at) if status == "completed" else None,
        "usage": _response_usage(result.get("usage")),
        "job_id": job.id,
    }


def batch_status(parent: Job) -> str:
    if parent.status == "succeeded":
        return "completed"
    if parent.status == "cancelled":
        return "cancelled"
    return "cancelling" if parent.cancel_requested else "in_progress"


def batch(parent: Job, files: dict[str, str | None], counts: dict[str, int]) -> dict[str, Any]:
    """A `/v1/batches` object: `files` maps result purpose to file id, `counts` are the request counts."""
    v1 = parent.payload["v1"]
    status = batch_status(parent)
    ended = seconds(parent.finished_at)
    return {
        "id": parent.id, "object": "batch", "endpoint": v1["endpoint"], "errors": None,
        "input_file_id": v1["input_file_id"], "completion_window": v1["completion_window"], "status": status,
        "output_file_id": files.get("batch_output"), "error_file_id": files.get("batch_error"),
        "created_at": seconds(parent.created_at), "in_progress_at": seconds(parent.started_at),
        "expires_at": seconds(parent.created_at + BATCH_WINDOW_MS),
        "finalizing_at": ended if status == "completed" else None,
        "completed_at": ended if status == "completed" else None, "failed_at": None, "expired_at": None,
        "cancelling_at": None, "cancelled_at": ended if status == "cancelled" else None,
        "request_counts": {"total": counts["total"], "completed": counts["completed"], "failed": counts["failed"]},
        "metadata": parent.payload.get("metadata"),
    }


def batch_result_line(child: Job) -> tuple[bool, dict[str, Any]]:
    """(succeeded, the line of the output or error file) for one request of a batch."""
    line: dict[str, Any] = {"id": "batch_req_" + child.id.split("_", 1)[-1], "custom_id": child.payload["custom_id"]}
    if child.status == "succeeded":
        line.update(response={"status_code": 200, "request_id": child.id, "body": chat_completion(child)}, error=None)
        return True, line
    error = child.error or {"code": "batch_cancelled", "message": "the batch was cancelled before this request ran"}
    line.update(response=None, error={"code": error.get("code"), "message": error.get("message")})
    return False, line
