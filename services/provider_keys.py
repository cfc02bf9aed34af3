"""Users' own provider keys: stored encrypted, listed masked, and used by their jobs.

A job uses its owner's stored key for its provider when there is one (it overrides the server's
key), else the server's adapter. The decrypted key lives only in the per-job adapter, which the
job closes when it ends; it is never logged. No base URL is accepted from a user: the server's
configured vendor URL is always used (a user-chosen URL would let any user make our workers call
any host).
"""
from __future__ import annotations

from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from extensions import ext_providers
from models import ProviderKey, now_ms
from models.db import db, self_committing
from providers.base import Provider
from providers.errors import AuthenticationError
from providers.registry import KEYED_PROVIDERS, ProviderSelectionError
from services.errors import InvalidRequest, NotFound
from services.keystore import KeyDecryptionError, decrypt, encrypt


def checked_provider(provider: str) -> str:
    if provider not in KEYED_PROVIDERS:
        raise InvalidRequest(f"unknown provider {provider[:40]!r}; keys are accepted for: "
                             f"{', '.join(KEYED_PROVIDERS)}", code="unknown_provider")
    return provider


def list_keys(s: Session, user_id: str) -> list[ProviderKey]:
    return list(s.scalars(select(ProviderKey).where(ProviderKey.user_id == user_id).order_by(ProviderKey.provider)))


def owned_key(s: Session, user_id: str, provider: str) -> ProviderKey:
    row = s.execute(select(ProviderKey).where(
        ProviderKey.user_id == user_id, ProviderKey.provider == checked_provider(provider))).scalar_one_or_none()
    if row is None:
        raise NotFound("provider key")
    return row


def store_key(s: Session, user_id: str, provider: str, api_key: str) -> tuple[ProviderKey, bool]:
    """Store (or replace) the user's key for `provider`; returns (row, created)."""
    checked_provider(provider)
    token = encrypt(ext_providers.ring(), api_key)
    last4 = api_key[-4:]
    row = s.execute(select(ProviderKey).where(ProviderKey.user_id == user_id, ProviderKey.provider == provider)
                    .with_for_update()).scalar_one_or_none()
    created = row is None
    if row is None:
        row = ProviderKey(user_id=user_id, provider=provider, ciphertext=token, last4=last4)
        s.add(row)
    else:
        row.ciphertext, row.last4, row.updated_at = token, last4, now_ms()
    try:
        s.commit()
    except IntegrityError:  # a concurrent PUT for the same provider created it first: replace that one
        s.rollback()
        row = owned_key(s, user_id, provider)
        row.ciphertext, row.last4, row.updated_at = token, last4, now_ms()
        s.commit()
        created = False
    return row, created


def delete_key(s: Session, user_id: str, provider: str) -> None:
    res = s.execute(delete(ProviderKey).where(ProviderKey.user_id == user_id,
                                              ProviderKey.provider == checked_provider(provider)))
    s.commit()
    if res.rowcount == 0:
        raise NotFound("provider key")


def user_key_providers(session: Session, user_id: str) -> set[str]:
    return set(session.scalars(select(ProviderKey.provider).where(ProviderKey.user_id == user_id)))


def stored_key(app: Flask, session: Session, user_id: str, provider: str) -> str | None:
    row = session.execute(
        select(ProviderKey.ciphertext).where(ProviderKey.user_id == user_id, ProviderKey.provider == provider)
    ).scalar_one_or_none()
    return None if row is None else decrypt(ext_providers.ring(app), row)


def job_provider(app: Flask, user_id: str, provider: str, model: str) -> tuple[Provider, str, bool]:
    """(adapter, model, per_job): the owner's key when stored, else the server's adapter.

    The key is read on a session of its own that commits itself: it lies on the way to a job's first
    token, and PostgreSQL then sees the pre-ping and the SELECT, without a BEGIN and a ROLLBACK."""
    registry = ext_providers.registry(app)
    if registry.keyable(provider):
        s = db.session()
        try:
            with self_committing(s):
                api_key = stored_key(app, s, user_id, provider)
        except KeyDecryptionError as exc:  # fail the job clearly rather than fall back to the server's key
            raise AuthenticationError(f"your stored {provider} key cannot be decrypted; store it again",
                                      provider=provider, model=model) from exc
        finally:
            db.session.remove()
        if api_key is not None:
            return registry.with_api_key(provider, api_key), model, True
    adapter, resolved = registry.resolve(provider, model)
    return adapter, resolved, False


def resolve_for_user(session: Session, user_id: str, provider: str | None, model: str | None) -> tuple[str, str]:
    """(provider name, model) for a submission; an unknown one is a clear 400, not a failed job later.

    The user's keys are looked up only for a provider the server has not enabled itself.
    """
    registry = ext_providers.registry()
    name = provider or registry.default
    keys = user_key_providers(session, user_id) if name not in registry.providers else set()
    try:
        return registry.resolve_with_keys(name, model, keys)
    except ProviderSelectionError as exc:
        raise InvalidRequest(str(exc), code="unknown_provider_or_model") from None


def models_catalog(session: Session, user_id: str) -> list[dict]:
    """Configured providers and their models, plus those the caller holds a key for."""
    registry = ext_providers.registry()
    catalog = registry.catalog()
    for name in sorted(user_key_providers(session, user_id) - set(registry.providers)):
        if registry.keyable(name):
            catalog.append({"provider": name, "models": registry.models_for(name), "default": False})
    return catalog
