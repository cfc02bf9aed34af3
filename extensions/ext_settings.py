"""The settings object the app was built with (tests build apps with settings of their own)."""
from __future__ import annotations

from flask import Flask

from extensions.slot import Slot
from settings import Settings

_slot: Slot[Settings] = Slot("settings")


def init_app(app: Flask, settings: Settings) -> None:
    _slot.set(app, settings)


def settings(app: Flask | None = None) -> Settings:
    return _slot.get(app)
