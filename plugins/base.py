"""The plugin interface: three hooks, each called with one event as a plain JSON dict.

A plugin is a class (constructed with no arguments) with any of the hook methods; subclassing
`Plugin` gives no-op defaults. `setup(context)` is called once per worker process before the
first hook. Hooks run in a Celery task after the transaction that produced the event committed,
at least once (an event may be delivered again after a worker crash: dedupe on `eventId`), and
never in a request or a job: a slow or failing plugin delays nothing but itself.

Event fields (camelCase, epoch milliseconds, like the API):

- every event: `hook`, `eventId`, `occurredAt`, `userId`
- `on_conversation_created`: `conversationId`, `title`, `model`, `createdAt`
- `on_message_sent`: `conversationId`, `messageId`, `role`, `model`, `contentLength`, `tokens`,
  `timestamp` (the text itself is not carried: a plugin that needs it reads the message by id)
- `on_job_completed`: `jobId`, `kind`, `status` (`succeeded`/`failed`/`cancelled`), `provider`,
  `model`, `conversationId`, `usage` (`input_tokens`, `output_tokens`) or null, `error` (`code`) or
  null, `attempts`, `createdAt`, `startedAt`, `finishedAt`
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

HOOKS = ("on_conversation_created", "on_message_sent", "on_job_completed")


@dataclass(frozen=True)
class PluginContext:
    """What a plugin gets to work with: the settings, our Redis (keys under `redis.key(...)`), a logger."""

    settings: Any
    redis: Any
    log: logging.Logger


class Plugin:
    """Optional base class; every hook does nothing unless overridden."""

    def setup(self, context: PluginContext) -> None:
        self.context = context

    def on_conversation_created(self, event: dict[str, Any]) -> None:
        pass

    def on_message_sent(self, event: dict[str, Any]) -> None:
        pass

    def on_job_completed(self, event: dict[str, Any]) -> None:
        pass
