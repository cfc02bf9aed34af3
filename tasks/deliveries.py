"""The chat redelivery task: one recipient's due deliveries (see `services/deliveries.py`)."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from services.deliveries import redeliver as redeliver_now


@shared_task(name="tasks.deliveries.redeliver", acks_late=True)
def redeliver(user_id: str, delivery_ids: list[str]) -> dict[str, int]:
    return redeliver_now(current_app._get_current_object(), user_id, delivery_ids)
