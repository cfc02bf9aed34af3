"""`/api/users/me/provider-keys`: a user's own vendor keys (bring your own key).

Keys are encrypted before they reach the database (MultiFernet under ENCRYPTION_KEY) and are
never returned: answers carry the last 4 characters and timestamps only. No base URL is
accepted: the server's configured vendor URL is always used (a user-chosen URL would let any
user make our workers call any host).
"""
from __future__ import annotations

from typing import Annotated

from flask import Blueprint, current_app
from flask_jwt_extended import current_user, jwt_required
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from models import ProviderKey, now_ms
from models.db import db
from providers.keystore import encrypt
from providers.registry import KEYED_PROVIDERS
from providers.user_keys import ring_for
from web.errors import ApiError, not_found
from web.openapi import endpoint
from web.schemas import StrictWireModel

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


def _checked(provider: str) -> str:
    if provider not in KEYED_PROVIDERS:
        raise ApiError(400, f"unknown provider {provider[:40]!r}; keys are accepted for: {', '.join(KEYED_PROVIDERS)}",
                       code="unknown_provider")
    return provider


def _owned(provider: str) -> ProviderKey:
    row = db.session.execute(select(ProviderKey).where(
        ProviderKey.user_id == current_user.id, ProviderKey.provider == _checked(provider))).scalar_one_or_none()
    if row is None:
        raise not_found("provider key")
    return row


@bp.get("")
@jwt_required()
@endpoint("The caller's stored provider keys, masked", tags=TAGS, responses={200: ProviderKeyList})
def list_keys():
    rows = db.session.scalars(select(ProviderKey).where(ProviderKey.user_id == current_user.id)
                              .order_by(ProviderKey.provider))
    return {"providerKeys": [r.to_wire() for r in rows]}


@bp.get("/<provider>")
@jwt_required()
@endpoint("One stored provider key, masked", tags=TAGS, responses={200: ProviderKeyOut}, errors=(400, 404))
def get_key(provider: str):
    return _owned(provider).to_wire()


@bp.put("/<provider>")
@jwt_required()
@endpoint("Store (or replace) the caller's key for a provider; jobs on that provider then use it", tags=TAGS,
          body=ProviderKeyIn, responses={200: ProviderKeyOut, 201: ProviderKeyOut}, errors=(400, 422))
def put_key(provider: str, body: ProviderKeyIn):
    _checked(provider)
    s = db.session
    token = encrypt(ring_for(current_app), body.api_key)
    last4 = body.api_key[-4:]
    row = s.execute(select(ProviderKey).where(ProviderKey.user_id == current_user.id,
                                              ProviderKey.provider == provider).with_for_update()
                    ).scalar_one_or_none()
    created = row is None
    if created:
        row = ProviderKey(user_id=current_user.id, provider=provider, ciphertext=token, last4=last4)
        s.add(row)
    else:
        row.ciphertext, row.last4, row.updated_at = token, last4, now_ms()
    try:
        s.commit()
    except IntegrityError:  # a concurrent PUT for the same provider created it first: replace that one
        s.rollback()
        row = _owned(provider)
        row.ciphertext, row.last4, row.updated_at = token, last4, now_ms()
        s.commit()
        created = False
    return row.to_wire(), 201 if created else 200


@bp.delete("/<provider>")
@jwt_required()
@endpoint("Forget the caller's key for a provider (jobs go back to the server's key)", tags=TAGS,
          responses={204: None}, errors=(400, 404))
def delete_key(provider: str):
    res = db.session.execute(delete(ProviderKey).where(ProviderKey.user_id == current_user.id,
                                                       ProviderKey.provider == _checked(provider)))
    db.session.commit()
    if res.rowcount == 0:
        raise not_found("provider key")
    return "", 204
