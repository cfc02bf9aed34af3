"""Plugins: operator-installed code called on product events, always outside the request path.

`plugins.base` is the interface, `plugins.loader` finds the enabled plugins (the `PLUGINS`
setting and the `chat_studio.plugins` entry point group), `plugins.analytics` is the example
that ships. Dispatch (after commit, as Celery tasks) lives in `tasks.plugins`.
"""
from plugins.base import HOOKS, Plugin, PluginContext

__all__ = ["HOOKS", "Plugin", "PluginContext"]
