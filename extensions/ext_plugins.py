"""Plugin event dispatch: the plugins enabled by configuration, fed after each commit."""
from __future__ import annotations

from flask import Flask

from extensions.ext_database import database
from extensions.ext_settings import settings
from extensions.slot import Slot
from plugins.loader import enabled_plugin_ids
from services.plugin_events import PluginDispatcher

_slot: Slot[PluginDispatcher] = Slot("plugins")


def init_app(app: Flask) -> None:
    dispatcher = _slot.set(app, PluginDispatcher(enabled_plugin_ids(settings(app))))
    dispatcher.listen(database(app).session.session_factory)


def dispatcher(app: Flask | None = None) -> PluginDispatcher:
    return _slot.get(app)
