"""The job event log (a Redis Stream per job), the process's one job notifier (pub/sub wake-ups) and
its one watchdog of running jobs (leases and cancel flags)."""
from __future__ import annotations

from flask import Flask

from extensions.ext_redis import store
from extensions.ext_settings import settings
from extensions.slot import Slot
from realtime.job_events import JobEventLog
from realtime.relay import JobNotifier
from services.job_watch import JobWatch

_log: Slot[JobEventLog] = Slot("job_events")
_notifier: Slot[JobNotifier] = Slot("job_notifier")
_watch: Slot[JobWatch] = Slot("job_watch")


def init_app(app: Flask) -> None:
    s = settings(app)
    log = _log.set(app, JobEventLog(store(app), s.event_log_max, s.event_log_ttl, s.event_batch_linger_ms / 1000))
    _notifier.set(app, JobNotifier(log))  # its thread starts with the first follower
    _watch.set(app, JobWatch(store(app), log, s.job_lease_seconds))  # its thread starts with the first job


def event_log(app: Flask | None = None) -> JobEventLog:
    return _log.get(app)


def notifier(app: Flask | None = None) -> JobNotifier:
    return _notifier.get(app)


def job_watch(app: Flask | None = None) -> JobWatch:
    return _watch.get(app)
