"""Rows as clients see them: camelCase fields, epoch-millisecond times (SPEC §2)."""
from __future__ import annotations

from typing import Any

from models import ApiKey, ChatMessage, Conversation, Delivery, Job, Message, ProviderKey, User


def user(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "email": u.email, "createdAt": u.created_at,
            "updatedAt": u.updated_at}


def conversation(c: Conversation, with_messages: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"id": c.id, "userId": c.user_id, "title": c.title, "model": c.model,
                            "systemPrompt": c.system_prompt, "createdAt": c.created_at, "updatedAt": c.updated_at}
    if with_messages:
        data["messages"] = [message(m) for m in c.messages]
    return data


def message(m: Message) -> dict[str, Any]:
    return {"id": m.id, "conversationId": m.conversation_id, "role": m.role, "content": m.content,
            "model": m.model, "tokens": m.tokens, "timestamp": m.timestamp}


def chat_frame(m: ChatMessage) -> dict[str, Any]:
    """The frame recipients receive (the seed's `chat_message` / `private_message` types plus `id`; fields
    camelCase like every resource of ours, README "Naming")."""
    if m.kind == "room":
        return {"type": "chat_message", "id": m.id, "roomId": m.room_id, "userId": m.sender_id,
                "content": m.content, "timestamp": m.created_at, "messageId": m.client_message_id}
    return {"type": "private_message", "id": m.id, "from": m.sender_id, "to": m.recipient_id,
            "content": m.content, "timestamp": m.created_at, "messageId": m.client_message_id}


def delivery(d: Delivery) -> dict[str, Any]:
    m = d.message
    return {"id": d.id, "messageId": m.id, "recipientId": d.user_id, "senderId": m.sender_id,
            "kind": m.kind, "roomId": m.room_id, "state": d.state, "attempts": d.attempts,
            "nextAttemptAt": d.next_attempt_at, "lastError": d.last_error, "createdAt": d.created_at,
            "ackedAt": d.acked_at, "frame": chat_frame(m)}


def provider_key(k: ProviderKey) -> dict[str, Any]:
    return {"provider": k.provider, "apiKeyLast4": k.last4, "apiKey": f"...{k.last4}",
            "createdAt": k.created_at, "updatedAt": k.updated_at}


def api_key(k: ApiKey) -> dict[str, Any]:
    """A personal API key as its owner sees it: never the key, only its prefix and last 4 characters."""
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "last4": k.last4, "createdAt": k.created_at,
            "expiresAt": k.expires_at, "lastUsedAt": k.last_used_at, "revokedAt": k.revoked_at}


def job(j: Job) -> dict[str, Any]:
    p = j.payload or {}
    base = f"/api/jobs/{j.id}"
    return {
        "id": j.id, "kind": j.kind, "status": j.status, "attempts": j.attempts,
        "provider": p.get("provider"), "model": p.get("model"), "conversationId": p.get("conversation_id"),
        "createdAt": j.created_at, "updatedAt": j.updated_at, "startedAt": j.started_at,
        "finishedAt": j.finished_at, "progress": j.progress, "result": j.result, "error": j.error,
        "links": {"self": base, "events": f"{base}/events", "stream": f"/ws/jobs/{j.id}", "cancel": f"{base}/cancel"},
    }


def batch(j: Job) -> dict[str, Any]:
    """A batch of completions in the OpenAI Batch API's shape (its snake_case kept for compatibility)."""
    if j.status == "succeeded":
        status = "completed"
    elif j.status == "cancelled":
        status = "cancelled"
    else:
        status = "cancelling" if j.cancel_requested else "in_progress"
    base = f"/api/batches/{j.id}"
    return {
        "id": j.id, "object": "batch", "status": status,
        "request_counts": j.progress, "metadata": (j.payload or {}).get("metadata"),
        "createdAt": j.created_at, "updatedAt": j.updated_at, "finishedAt": j.finished_at,
        "links": {"self": base, "results": f"{base}/results", "cancel": f"{base}/cancel",
                  "events": f"/api/jobs/{j.id}/events", "stream": f"/ws/jobs/{j.id}"},
    }
