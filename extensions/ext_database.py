"""SQLAlchemy engine and scoped session (`models.db.db` reaches them from any app context)."""
from __future__ import annotations

from flask import Flask, current_app

from extensions.ext_settings import settings
from models.db import EXTENSION_KEY, Database


def init_app(app: Flask) -> None:
    Database().init_app(app, settings(app))


def database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions[EXTENSION_KEY]
