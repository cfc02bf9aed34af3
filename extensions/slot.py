"""A typed place on the Flask app for one shared object (instead of string keys at every use)."""
from __future__ import annotations

from typing import Generic, TypeVar

from flask import Flask, current_app

T = TypeVar("T")


class Slot(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = f"chat_studio.{name}"

    def set(self, app: Flask, value: T) -> T:
        app.extensions[self.name] = value
        return value

    def get(self, app: Flask | None = None) -> T:
        """The object of `app`, or of the current app (a request or a task runs in one)."""
        return (app or current_app).extensions[self.name]

    def find(self, app: Flask | None = None) -> T | None:
        """The object, or None when it was not made yet."""
        return (app or current_app).extensions.get(self.name)
