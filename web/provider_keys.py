"""`/api/users/me/provider-keys`: a user's own vendor keys (bring your own key).

Keys are encrypted before they reach the database (MultiFernet under ENCRYPTION_KEY) and are
never returned: answers carry the last 4 characters and timestamps only. No base URL is
accepted: the server's configured vendor URL is always used (a user-chosen URL would let any
user make our workers call any host).
"""
from __future__ import annotations

from typing import Annotated

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from pydantic import BaseModel, Field, StringConstraints

from models.db import db
from schemas import wire
from schemas.core import StrictWireModel
from services import provider_keys
from web.openapi import endpoint

bp = Blueprint("provider_keys", __name__, url_prefix="/api/users/me/provider-keys")
TAGS = ["provider keys"]


class ProviderKeyIn(StrictWireModel):
    api_key: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{8,512}$")] = Field(
        description="The vendor key: 8 to 512 printable ASCII characters, no spaces.")


class ProviderKeyOut(BaseModel):
    provider: str
    apiKeyLast4: str
    apiKey: str = Field(description="The key masked: `...` and its last 4 characters.")
    createdAt: int
    updatedAt: int


class ProviderKeyList(BaseModel):
    providerKeys: list[ProviderKeyOut]


@bp.get("")
@jwt_required()
@endpoint("The caller's stored provider keys, masked", tags=TAGS, responses={200: ProviderKeyList})
def list_keys():
    return {"providerKeys": [wire.provider_key(r) for r in provider_keys.list_keys(db.session(), current_user.id)]}


@bp.get("/<provider>")
@jwt_required()
@endpoint("One stored provider key, masked", tags=TAGS, responses={200: ProviderKeyOut}, errors=(400, 404))
def get_key(provider: str):
    return wire.provider_key(provider_keys.owned_key(db.session(), current_user.id, provider))


@bp.put("/<provider>")
@jwt_required()
@endpoint("Store (or replace) the caller's key for a provider; jobs on that provider then use it", tags=TAGS,
          body=ProviderKeyIn, responses={200: ProviderKeyOut, 201: ProviderKeyOut}, errors=(400, 422))
def put_key(provider: str, body: ProviderKeyIn):
    row, created = provider_keys.store_key(db.session(), current_user.id, provider, body.api_key)
    return wire.provider_key(row), 201 if created else 200


@bp.delete("/<provider>")
@jwt_required()
@endpoint("Forget the caller's key for a provider (jobs go back to the server's key)", tags=TAGS,
          responses={204: None}, errors=(400, 404))
def delete_key(provider: str):
    provider_keys.delete_key(db.session(), current_user.id, provider)
    return "", 204
