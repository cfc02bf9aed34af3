"""`/v1/models`: OpenAI's model list; ids are `provider/model`."""
from __future__ import annotations

from models.db import db
from services import v1_models
from web.openapi import endpoint
from web.v1.common import blueprint, user_id

bp = blueprint("v1_models")
TAGS = ["openai-compatible"]


def _model(model_id: str, provider: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": provider}


@bp.get("/models")
@endpoint("Models the caller may use, in OpenAI's list shape (`provider/model` ids)", tags=TAGS,
          responses={200: dict})
def list_models():
    ids = v1_models.model_ids(db.session(), user_id())
    return {"object": "list", "data": [_model(mid, provider) for mid, provider in ids]}


@bp.get("/models/<path:model_id>")
@endpoint("One model", tags=TAGS, responses={200: dict}, errors=(404,))
def get_model(model_id: str):
    return _model(*v1_models.get_model(db.session(), user_id(), model_id))
