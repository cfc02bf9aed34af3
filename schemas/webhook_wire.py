"""Webhook rows as JSON: OpenAI's `webhook_endpoint` object, and our delivery log entries."""
from __future__ import annotations

from typing import Any

from models import WebhookDelivery, WebhookEndpoint


def endpoint_object(row: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    out = {"id": row.id, "object": "webhook_endpoint", "name": row.name, "url": row.url,
           "event_types": list(row.event_types or []), "signing_secret_hint": row.secret_hint,
           "created_at": row.created_at // 1000, "updated_at": row.updated_at // 1000}
    if secret is not None:
        out["signing_secret"] = secret
    return out


def delivery(row: WebhookDelivery) -> dict[str, Any]:
    return {"id": row.id, "endpointId": row.endpoint_id, "webhookId": row.event_id, "eventType": row.event_type,
            "state": row.state, "attempts": row.attempts, "lastStatus": row.last_status,
            "lastError": row.last_error, "responseExcerpt": row.response_excerpt,
            "nextAttemptAt": row.next_attempt_at if row.state == "pending" else None,
            "createdAt": row.created_at, "deliveredAt": row.delivered_at, "payload": row.payload}
