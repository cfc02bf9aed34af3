"""Plugin events: recorded on the session, sent after commit, run by the worker with failures contained.

Writes put events on their SQLAlchemy session (`record`; new conversations and messages are
picked up by ORM insert events, so every write path is covered). After the transaction commits,
each enabled plugin gets one Celery task per batch of events on the default queue; a rolled-back
transaction sends nothing. In the worker, each plugin runs under its own time limit and its own
try/except: a failure is logged, counted in `chat_plugin_failures_total{plugin,hook}` and in the
Redis hash `<prefix>plugins:failures` (field `<plugin>|<hook>`), and affects nothing else.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from extensions import ext_settings
from metrics import metrics
from models import Conversation, Message, now_ms
from plugins.base import HOOKS, PluginContext
from plugins.loader import PluginLoadError, load
from realtime.redis_store import kv, store_of
from services import queue

log = logging.getLogger(__name__)

_PENDING = "plugin_events"
EVENTS_PER_TASK = 200


class PluginTimeout(Exception):
    pass


# ---------------------------------------------------------------- recording (web and worker)

def record(session: Session, hook: str, fields: dict[str, Any]) -> None:
    """Queue an event on the session; it is sent only if this transaction commits."""
    if not session.info.get("plugins_enabled"):
        return
    evt = {"hook": hook, "eventId": uuid.uuid4().hex, "occurredAt": now_ms(), **fields}
    session.info.setdefault(_PENDING, []).append(evt)


def job_finished(session: Session, job: Any, status: str, result: dict | None, error: dict | None) -> None:
    payload = job.payload or {}
    usage = (result or {}).get("usage")
    record(session, "on_job_completed", {
        "userId": job.user_id, "jobId": job.id, "kind": job.kind, "status": status,
        "provider": payload.get("provider"), "model": payload.get("model"),
        "conversationId": payload.get("conversation_id"), "usage": usage,
        "error": {"code": error.get("code")} if error else None, "attempts": job.attempts,
        "createdAt": job.created_at, "startedAt": job.started_at, "finishedAt": now_ms()})


def _conversation_inserted(_mapper, _conn, conv: Conversation) -> None:
    from sqlalchemy.orm import object_session

    s = object_session(conv)
    if s is not None and s.info.get("plugins_enabled"):
        record(s, "on_conversation_created", {"userId": conv.user_id, "conversationId": conv.id,
                                              "title": conv.title, "model": conv.model,
                                              "createdAt": conv.created_at})


def _message_inserted(_mapper, conn, msg: Message) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    s = object_session(msg)
    if s is None or not s.info.get("plugins_enabled"):
        return
    conv = msg.__dict__.get("conversation")  # set when the message was built with its conversation
    if conv is None:
        conv = s.identity_map.get(s.identity_key(Conversation, msg.conversation_id))
    # Within a flush only the flush's own connection may be used for a lookup.
    user_id = conv.user_id if conv is not None else conn.execute(
        select(Conversation.user_id).where(Conversation.id == msg.conversation_id)).scalar()
    record(s, "on_message_sent", {"userId": user_id, "conversationId": msg.conversation_id, "messageId": msg.id,
                                  "role": msg.role, "model": msg.model, "contentLength": len(msg.content or ""),
                                  "tokens": msg.tokens, "timestamp": msg.timestamp})


class PluginDispatcher:
    """Sends each committed transaction's events to every enabled plugin, one task per plugin."""

    def __init__(self, plugin_ids: list[str]) -> None:
        self.plugin_ids = plugin_ids

    def listen(self, factory: Any) -> None:
        """Collect and send events of this session factory's transactions (only if a plugin listens)."""
        if not self.plugin_ids:
            return  # nothing listens: no events are built at all
        event.listen(factory, "after_begin", self._mark_enabled)
        event.listen(factory, "after_commit", self._after_commit)
        event.listen(factory, "after_rollback", self._after_rollback)
        for target, fn in ((Conversation, _conversation_inserted), (Message, _message_inserted)):
            if not event.contains(target, "after_insert", fn):  # mapper events are process-wide
                event.listen(target, "after_insert", fn)
        log.info("plugins enabled: %s", ", ".join(self.plugin_ids))

    @staticmethod
    def _mark_enabled(session: Session, _transaction: Any, _connection: Any) -> None:
        session.info["plugins_enabled"] = True

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(_PENDING, None)

    def _after_commit(self, session: Session) -> None:
        events = session.info.pop(_PENDING, None)
        if not events:
            return
        for hook in HOOKS:
            batch = [e for e in events if e["hook"] == hook]
            for start in range(0, len(batch), EVENTS_PER_TASK):
                chunk = batch[start:start + EVENTS_PER_TASK]
                for plugin_id in self.plugin_ids:
                    try:
                        queue.send(queue.PLUGIN_HOOK, plugin_id, hook, chunk, retry=False)
                    except Exception as exc:  # the write stands; the plugin misses these events
                        log.warning("could not enqueue %d %s event(s) for plugin %s: %s",
                                    len(chunk), hook, plugin_id, exc)


# ---------------------------------------------------------------- running (worker)

_loaded: dict[str, Any] = {}


def _plugin(app: Flask, plugin_id: str) -> Any:
    plugin = _loaded.get(plugin_id)
    if plugin is None:
        settings = ext_settings.settings(app)
        plugin = load(plugin_id, settings)
        setup = getattr(plugin, "setup", None)
        if callable(setup):
            setup(PluginContext(settings=settings, redis=store_of(app),
                                log=logging.getLogger(f"plugins.{plugin_id}")))
        _loaded[plugin_id] = plugin
    return plugin


def _gevent_timeout(seconds: float):
    """A gevent Timeout when the worker runs greenlets (the Procfile's `-P gevent`), else None."""
    try:
        from gevent import Timeout
        from gevent.monkey import is_module_patched
    except ImportError:  # pragma: no cover
        return None
    return Timeout(seconds, PluginTimeout(f"hook ran past PLUGIN_TIMEOUT ({seconds:g} s)")) \
        if is_module_patched("socket") else None


def failure_key() -> str:
    return kv.key("plugins", "failures")


def _failed(plugin_id: str, hook: str, count: int = 1) -> None:
    metrics().plugin_failures.labels(plugin=plugin_id, hook=hook).inc(count)
    try:
        kv.r.hincrby(failure_key(), f"{plugin_id}|{hook}", count)
    except Exception as exc:  # the counter above and the log line still record it
        log.warning("could not count plugin failure in Redis: %s", exc)


def run_hook(app: Flask, plugin_id: str, hook: str, events: list[dict[str, Any]]) -> int:
    """Call one plugin's hook for each event; returns how many calls failed. Never raises."""
    if hook not in HOOKS:
        log.error("unknown plugin hook %r for plugin %s", hook, plugin_id)
        return 0
    try:
        plugin = _plugin(app, plugin_id)
    except Exception as exc:  # PluginLoadError, or the plugin's own setup raising
        log.error("plugin %s unavailable, %d %s event(s) dropped: %s", plugin_id, len(events), hook,
                  exc if isinstance(exc, PluginLoadError) else repr(exc))
        _failed(plugin_id, hook, len(events))
        return len(events)
    fn = getattr(plugin, hook, None)
    if not callable(fn):
        return 0
    timeout = ext_settings.settings(app).plugin_timeout
    failures = 0
    for evt in events:
        started = time.monotonic()
        limit = _gevent_timeout(timeout)
        try:
            if limit is not None:
                with limit:
                    fn(dict(evt))
            else:
                fn(dict(evt))
        except Exception:
            failures += 1
            log.exception("plugin %s failed in %s for event %s after %.3f s", plugin_id, hook, evt.get("eventId"),
                          time.monotonic() - started)
            _failed(plugin_id, hook)
    return failures
