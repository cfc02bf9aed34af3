"""`/v1/batches`: OpenAI's Batch API for `/v1/chat/completions`, on our batches of completions."""
from __future__ import annotations

from extensions.ext_settings import settings
from models.db import db
from services import v1_batches as batches
from web.openapi import endpoint
from web.v1.common import blueprint, json_body, user_id
from web.v1.files import cursor_page, page_args

bp = blueprint("v1_batches")
TAGS = ["openai-compatible"]


@bp.post("/batches")
@endpoint("Create a batch from an uploaded JSONL file of chat completion requests", tags=TAGS,
          raw_body={"application/json": dict}, responses={200: dict}, errors=(400, 404, 503))
def create_batch():
    parent = batches.create(db.session(), user_id(), json_body(), settings().batch_max_items)
    return batches.render(db.session(), parent)


@bp.get("/batches")
@endpoint("The caller's batches, newest first (cursor page)", tags=TAGS, responses={200: dict}, errors=(400, 404))
def list_batches():
    limit, after = page_args()
    rows, more = batches.list_batches(db.session(), user_id(), limit, after)
    return cursor_page([batches.render(db.session(), r) for r in rows], more)


@bp.get("/batches/<batch_id>")
@endpoint("A batch: status, request counts, output and error file ids", tags=TAGS, responses={200: dict},
          errors=(404,))
def get_batch(batch_id: str):
    return batches.render(db.session(), batches.owned_batch(db.session(), user_id(), batch_id))


@bp.post("/batches/<batch_id>/cancel")
@endpoint("Cancel a batch", tags=TAGS, responses={200: dict}, errors=(404,))
def cancel_batch(batch_id: str):
    return batches.render(db.session(), batches.cancel(db.session(), user_id(), batch_id))
