"""The OpenAI-compatible API under `/v1`: parse, call a service, render OpenAI's shapes."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the `/v1` blueprints (before the rate limiter wraps views)."""
    from web.v1 import batches, chat, files, models, responses, webhooks

    for module in (models, chat, responses, files, batches, webhooks):
        app.register_blueprint(module.bp)


# Chat work submitted through `/v1` shares the chat rate limit of `/api/chat`.
CHAT_ENDPOINTS = ("v1_chat.create_chat_completion", "v1_responses.create_response", "v1_batches.create_batch")
