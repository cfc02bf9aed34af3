"""`/api/users/me/api-keys`: personal API keys for the OpenAI-compatible API (`/v1`).

The key itself is in the creation answer only; afterwards a key is shown by its prefix and last 4
characters. Revoking takes effect on the next request to any web process.
"""
from __future__ import annotations

from typing import Annotated, Optional

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from pydantic import BaseModel, Field, StringConstraints

from models.db import db
from schemas import wire
from schemas.core import StrictWireModel
from services import api_keys
from web.openapi import endpoint

bp = Blueprint("api_keys", __name__, url_prefix="/api/users/me/api-keys")
TAGS = ["api keys"]


class ApiKeyIn(StrictWireModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    expires_at: Optional[Annotated[int, Field(ge=0, le=32503680000000)]] = Field(
        None, description="Epoch milliseconds after which the key is refused; none = no expiry.")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    last4: str
    createdAt: int
    expiresAt: Optional[int]
    lastUsedAt: Optional[int]
    revokedAt: Optional[int]


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key: shown this once, never again.")


class ApiKeyList(BaseModel):
    apiKeys: list[ApiKeyOut]


@bp.post("")
@jwt_required()
@endpoint("Create a personal API key for `/v1` (the key is returned once)", tags=TAGS, body=ApiKeyIn,
          responses={201: ApiKeyCreated}, errors=(400,))
def create_key(body: ApiKeyIn):
    row, key = api_keys.create_key(db.session(), current_user.id, body.name, body.expires_at)
    return {**wire.api_key(row), "key": key}, 201


@bp.get("")
@jwt_required()
@endpoint("The caller's API keys (prefix and last 4 characters only)", tags=TAGS, responses={200: ApiKeyList})
def list_keys():
    return {"apiKeys": [wire.api_key(r) for r in api_keys.list_keys(db.session(), current_user.id)]}


@bp.delete("/<key_id>")
@jwt_required()
@endpoint("Revoke an API key (refused at once by every web process)", tags=TAGS, responses={200: ApiKeyOut},
          errors=(404,))
def revoke_key(key_id: str):
    return wire.api_key(api_keys.revoke_key(db.session(), current_user.id, key_id))
