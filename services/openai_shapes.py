"""OpenAI's wire objects built from our rows: chat completions and chunks, files, batches, error lines.

Timestamps are Unix seconds as OpenAI sends them (our `/api` uses epoch milliseconds).
"""
from __future__ import annotations

from typing import Any

from models import Job

_LENGTH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})


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


def file_object(f) -> dict[str, Any]:
    return {"id": f.id, "object": "file", "bytes": f.bytes, "created_at": seconds(f.created_at),
            "filename": f.filename, "purpose": f.purpose, "status": "processed", "expires_at": None,
            "status_details": None}


def error_body(code: str, message: str, type_: str = "invalid_request_error",
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
