"""The webhook delivery task: one attempt of one delivery (see `services/webhook_delivery.py`)."""
from __future__ import annotations

from celery import shared_task

from services.webhook_delivery import deliver
from tasks.arguments import valid_id


@shared_task(name="tasks.webhooks.deliver_webhook", acks_late=True)
def deliver_webhook(delivery_id: str) -> str:
    if not valid_id(delivery_id, "delivery id"):
        return "skipped"
    return deliver(delivery_id)
