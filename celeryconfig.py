"""Celery settings, built from the one settings object (reliability defaults of the design notes)."""
from __future__ import annotations

from typing import Any, Iterable

from settings import Settings

# kombu's Redis transport with one command client per channel (extensions/broker_transport.py says why);
# `rediss://` and other brokers keep kombu's own transport, chosen from the URL's scheme.
REDIS_TRANSPORT = "extensions.broker_transport:Transport"
COMPLETIONS_QUEUE = "completions"
DEFAULT_QUEUE = "default"


# kombu's Redis transport keeps one list per queue and priority step (`<queue>\x06\x16<step>`).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def broker_key_prefix(settings: Settings) -> str:
    """Where every broker key lives: under our prefix, so a deployment or a test run owns its namespace."""
    return settings.redis_key_prefix + "celery:"


def queue_lengths(client: Any, settings: Settings, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue (LLEN of its broker lists), in one round trip."""
    queues = list(queues)
    prefix = broker_key_prefix(settings)
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(prefix + queue + suffix)
        lengths = pipe.execute()
    step = len(_PRIORITY_SUFFIXES)
    return {queue: sum(lengths[i * step:(i + 1) * step]) for i, queue in enumerate(queues)}


def broker_pool_size(concurrency: int | None) -> int:
    """Broker connections a worker may hold at once: every task slot acknowledging its message at the
    same moment, plus the consumer, the event dispatcher and the periodic passes."""
    return (concurrency or 1) + 16


def celery_config(settings: Settings) -> dict[str, Any]:
    transport = {
        # Longer than the longest task, so a slow stream is not redelivered while still running.
        "visibility_timeout": settings.celery_visibility_timeout,
        "global_keyprefix": broker_key_prefix(settings),
        # kombu's own pool raises `Too many connections` past its cap (10 by default); a worker
        # raises it to its concurrency at start (`broker_pool_size`).
        "max_connections": settings.redis_max_connections,
    }
    broker_url = settings.celery_broker_url or settings.redis_url
    return {
        "broker_url": broker_url,
        **({"broker_transport": REDIS_TRANSPORT} if broker_url.startswith("redis://") else {}),
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "result_backend": None,  # the Job row is the source of truth
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.celery_task_time_limit,
        "task_soft_time_limit": max(1, settings.celery_task_time_limit - 30),
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {"tasks.completions.*": {"queue": COMPLETIONS_QUEUE}},
        "worker_send_task_events": True,
        # One publish per task: a `task-sent` event would be a second one on every submission (Flower
        # shows a task from the worker's `task-received` on).
        "task_send_sent_event": False,
        "worker_hijack_root_logger": False,
        "broker_heartbeat": 0,
        "timezone": "UTC",
    }
