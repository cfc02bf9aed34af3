"""The chat redelivery task: one recipient's due deliveries (see `services/deliveries.py`)."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from services.deliveries import redeliver as redeliver_now
from tasks.arguments import valid_id


@shared_task(name="tasks.deliveries.redeliver", acks_late=True)
def redeliver(user_id: str, delivery_ids: list[str]) -> dict[str, int]:
    if not valid_id(user_id, "user_id") or not isinstance(delivery_ids, list) \
            or not all(valid_id(d, "delivery id") for d in delivery_ids):
        return {"resent": 0, "dead": 0}
    return redeliver_now(current_app._get_current_object(), user_id, delivery_ids)
