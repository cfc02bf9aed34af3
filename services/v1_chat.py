"""Chat completions over the job queue: check OpenAI's parameters, create the `chat` job, read its answer.

Every parameter we do not implement is refused with a 400 naming it; none is silently ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Job
from services import v1_models
from services.chat import chat_payload, submit_payload, wait_until_ended
from services.completion import CHAT
from services.errors import InvalidRequest, NotFound, Unsupported

MAX_TOKENS_LIMIT = 32_768
DEFAULT_MAX_TOKENS = 2048
DEFAULT_TEMPERATURE = 1.0  # OpenAI's default
MAX_MESSAGES = 500
MAX_CONTENT_CHARS = 100_000
SUPPORTED = frozenset({"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                       "temperature", "stop", "n", "user", "metadata", "store"})


@dataclass
class ChatSpec:
    """A checked request: what the job needs plus what the answer must echo."""

    model: str
    messages: list[dict[str, str]]
    system: str | None
    temperature: float
    max_tokens: int
    stop: list[str] | None = None
    stream: bool = False
    include_usage: bool = False
    user: str | None = None
    metadata: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _text_of(content: Any, where: str) -> str:
    """A message's text: a string, or a list of `text` parts (anything else is not supported)."""
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "input_text", "output_text"):
                raise Unsupported(f"{where}[{j}]", f"has type {kind!r}: only text content is supported")
            if not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{where}[{j}].text must be a string", param=f"{where}[{j}].text")
            parts.append(part["text"])
        text = "".join(parts)
    else:
        raise InvalidRequest(f"{where} must be a string or a list of text parts", param=where)
    if len(text) > MAX_CONTENT_CHARS:
        raise InvalidRequest(f"{where} is longer than {MAX_CONTENT_CHARS} characters", param=where)
    return text


def split_messages(items: list[dict[str, Any]], where: str) -> tuple[str | None, list[dict[str, str]]]:
    """(system prompt, user/assistant turns): system and developer messages are joined into the system
    prompt, which every provider takes its own way (Anthropic has no system role in its messages)."""
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for i, m in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(m, dict):
            raise InvalidRequest(f"{at} must be an object", param=at)
        role = m.get("role")
        for key, value in m.items():
            if key not in ("role", "content", "type") and value is not None:
                raise Unsupported(f"{at}.{key}")
        if role in ("tool", "function"):
            raise Unsupported(f"{at}.role", f"{role!r}: tool calling is not supported")
        if role not in ("system", "developer", "user", "assistant"):
            raise InvalidRequest(f"{at}.role must be one of system, developer, user, assistant", param=f"{at}.role")
        text = _text_of(m.get("content"), f"{at}.content")
        if role in ("system", "developer"):
            system.append(text)
        else:
            turns.append({"role": role, "content": text})
    return ("\n\n".join(system) if system else None), turns


def _number(body: dict, name: str, lo: float, hi: float, integer: bool = False) -> Any:
    value = body.get(name)
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise InvalidRequest(f"{name} must be {kind} from {lo:g} to {hi:g}", param=name)
    return value


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str] | None:
    if value is None:
        return None
    if (not isinstance(value, dict) or len(value) > 16
            or any(not isinstance(k, str) or len(k) > 64 or not isinstance(v, str) or len(v) > 512
                   for k, v in value.items())):
        raise InvalidRequest(f"{param} must be at most 16 string pairs (keys up to 64, values up to 512 characters)",
                             param=param)
    return value


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if (not isinstance(stops, list) or len(stops) > 4
            or any(not isinstance(s, str) or not s for s in stops)):
        raise InvalidRequest("stop must be a string or a list of up to 4 non-empty strings", param="stop")
    return stops or None


def _max_tokens(body: dict) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            return _number(body, name, 1, MAX_TOKENS_LIMIT, integer=True)
    return DEFAULT_MAX_TOKENS


def check_params(body: Any, supported: frozenset[str]) -> None:
    """A `/v1` body is a JSON object whose every set parameter is one we implement: the others are
    refused, never ignored."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    for name, value in body.items():
        if name not in supported and value is not None:
            raise Unsupported(name)


def parse_chat(body: Any) -> ChatSpec:
    """Check a chat completion request body (also each line of a batch input file)."""
    check_params(body, SUPPORTED)
    if body.get("n") is not None and body["n"] != 1:
        raise Unsupported("n", "other than 1 is not supported: one choice per request")
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        raise InvalidRequest(f"messages must be a list of 1 to {MAX_MESSAGES} messages", param="messages")
    system, turns = split_messages(messages, "messages")
    if not turns:
        raise InvalidRequest("messages must contain at least one user or assistant message", param="messages")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise InvalidRequest("stream must be a boolean", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict) or any(k != "include_usage" for k in options):
        raise Unsupported("stream_options", "may only hold include_usage")
    if options and not stream:
        raise InvalidRequest("stream_options is only allowed when stream is true", param="stream_options")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > 256):
        raise InvalidRequest("user must be a string of at most 256 characters", param="user")
    if body.get("store") is not None and not isinstance(body["store"], bool):
        raise InvalidRequest("store must be a boolean", param="store")
    temperature = _number(body, "temperature", 0, 2) if body.get("temperature") is not None else DEFAULT_TEMPERATURE
    return ChatSpec(model=body.get("model"), messages=turns, system=system, temperature=float(temperature),
                    max_tokens=_max_tokens(body), stop=_stop(body.get("stop")), stream=stream,
                    include_usage=bool(options.get("include_usage")), user=user,
                    metadata=check_metadata(body.get("metadata")))


def job_payload(s: Session, user_id: str, spec: ChatSpec) -> dict[str, Any]:
    """The payload of the `chat` job, in the shape `POST /api/chat` writes (plus `stop` and `v1`)."""
    provider, model, public_id = v1_models.resolve(s, user_id, spec.model)
    return chat_payload(provider, model, spec.messages, system=spec.system, temperature=spec.temperature,
                        max_tokens=spec.max_tokens, stop=spec.stop,
                        v1={"api": "chat.completions", "model": public_id, "user": spec.user,
                            "metadata": spec.metadata, **spec.extra})


def submit(s: Session, user_id: str, spec: ChatSpec) -> Job:
    """Create the job, commit, then enqueue it (the same steps and task as `POST /api/chat`)."""
    return submit_payload(s, user_id, job_payload(s, user_id, spec))


def owned_completion(s: Session, user_id: str, job_id: str) -> Job:
    """A chat completion job of the caller's (another user's id is simply not found)."""
    job = s.execute(select(Job).where(Job.id == job_id, Job.user_id == user_id, Job.kind == CHAT)
                    ).scalar_one_or_none()
    if job is None or ((job.payload or {}).get("v1") or {}).get("api") == "responses":
        raise NotFound(message=f"No chat completion found with id '{job_id}'", param="completion_id")
    return job


def wait_for_job(app: Flask, s: Session, job_id: str, timeout: float) -> Job | None:
    """Follow the job until it ends or `timeout` passes; the fresh row, or None on timeout.

    The session is closed first: no database connection is held while waiting.
    """
    s.close()
    if not wait_until_ended(app, job_id, timeout):
        return None
    return s.get(Job, job_id, populate_existing=True)


def starts_over(type_: str, data: dict[str, Any]) -> bool:
    """Whether a job event means the answer is being written again from the start: a retry after
    output, a new attempt, or an event log that Redis lost (`reset`, then the log replayed whole).
    Text a client was already sent cannot be taken back, so its stream ends and it fetches the answer."""
    return type_ == "reset" or (type_ in ("retry", "started") and bool(data.get("restarted")))
