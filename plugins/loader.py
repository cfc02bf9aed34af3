"""Which plugins are enabled, and loading one (importing its code) only when a hook needs it.

A plugin id is either a `module:Class` import path from the `PLUGINS` setting, or the name of an
entry point in the `chat_studio.plugins` group. Listing ids reads metadata only; plugin code is
imported by `load`, in the worker, on first use.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from settings import Settings

ENTRY_POINT_GROUP = "chat_studio.plugins"


class PluginLoadError(Exception):
    pass


def configured_paths(settings: Settings) -> list[str]:
    return [p.strip() for p in settings.plugins.split(",") if p.strip()]


def enabled_plugin_ids(settings: Settings) -> list[str]:
    ids = configured_paths(settings)
    if settings.plugin_entry_points:
        ids += [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in ids]
    return list(dict.fromkeys(ids))


def load(plugin_id: str, settings: Settings) -> Any:
    """Import and construct the plugin `plugin_id`; only ids this process has enabled are loaded.

    The id arrives in a task message; checking it against our own configuration keeps a message
    from naming arbitrary code to import.
    """
    if plugin_id not in enabled_plugin_ids(settings):
        raise PluginLoadError(f"plugin {plugin_id!r} is not enabled in this process")
    if plugin_id in configured_paths(settings):
        module_name, _, attr = plugin_id.partition(":")
        if not module_name or not attr:
            raise PluginLoadError(f"plugin {plugin_id!r} is not a `module:Class` path")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginLoadError(f"cannot import plugin {plugin_id!r}: {exc}") from exc
    else:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == plugin_id]
        try:
            target = matches[0].load()
        except Exception as exc:
            raise PluginLoadError(f"cannot load entry point plugin {plugin_id!r}: {exc}") from exc
    return target() if isinstance(target, type) else target
