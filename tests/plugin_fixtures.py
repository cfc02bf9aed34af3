"""Plugins the integration tests enable: one that raises, one that sleeps, one that hangs, one that records."""
from __future__ import annotations

import json
import os
import time

from plugins.base import Plugin

SLEEP_SECONDS = float(os.environ.get("TEST_PLUGIN_SLEEP", "3"))


class FailingPlugin(Plugin):
    def on_conversation_created(self, event):
        raise RuntimeError("failing plugin: conversation hook")

    def on_message_sent(self, event):
        raise RuntimeError("failing plugin: message hook")

    def on_job_completed(self, event):
        raise RuntimeError("failing plugin: job hook")


class SleepingPlugin(Plugin):
    """Marks when it starts and when it finishes each event, sleeping in between."""

    def _mark(self, event, what):
        store = self.context.redis
        store.r.set(store.key("plugintest", what, event["eventId"]), time.time(), ex=3600)

    def on_conversation_created(self, event):
        self._mark(event, "started")
        time.sleep(SLEEP_SECONDS)
        self._mark(event, "done")

    on_message_sent = on_conversation_created
    on_job_completed = on_conversation_created


class HangingPlugin(Plugin):
    def on_job_completed(self, event):
        time.sleep(3600)


class RecordingPlugin(Plugin):
    """Enabled through an entry point; keeps every event it sees in a Redis list."""

    def _record(self, event):
        store = self.context.redis
        store.r.rpush(store.key("plugintest", "events"), json.dumps(event))

    on_conversation_created = on_message_sent = on_job_completed = _record
