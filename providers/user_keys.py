"""Users' own provider keys at work: which providers a user can call, and the adapter a job runs on.

A job uses its owner's stored key for its provider when there is one (it overrides the server's
key), else the server's adapter. The decrypted key lives only in the per-job adapter, which the
job closes when it ends; it is never logged.
"""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ProviderKey
from providers.base import Provider
from providers.errors import AuthenticationError
from providers.keystore import KeyDecryptionError, decrypt, key_ring


def user_key_providers(session: Session, user_id: str) -> set[str]:
    return set(session.scalars(select(ProviderKey.provider).where(ProviderKey.user_id == user_id)))


def stored_key(app: Flask, session: Session, user_id: str, provider: str) -> str | None:
    row = session.execute(
        select(ProviderKey.ciphertext).where(ProviderKey.user_id == user_id, ProviderKey.provider == provider)
    ).scalar_one_or_none()
    return None if row is None else decrypt(ring_for(app), row)


def ring_for(app: Flask):
    ring = app.extensions.get("key_ring")
    if ring is None:
        ring = app.extensions["key_ring"] = key_ring(app.extensions["settings"])
    return ring


def job_provider(app: Flask, registry, session: Session, user_id: str, provider: str,
                 model: str) -> tuple[Provider, str, bool]:
    """(adapter, model, per_job): the owner's key when stored, else the server's adapter."""
    if registry.keyable(provider):
        try:
            api_key = stored_key(app, session, user_id, provider)
        except KeyDecryptionError as exc:  # fail the job clearly rather than fall back to the server's key
            raise AuthenticationError(f"your stored {provider} key cannot be decrypted; store it again",
                                      provider=provider, model=model) from exc
        if api_key is not None:
            adapter = registry.with_api_key(provider, api_key)
            return adapter, model, True
    adapter, resolved = registry.resolve(provider, model)
    return adapter, resolved, False


def resolve_for_user(registry, session: Session, user_id: str, provider: str | None,
                     model: str | None) -> tuple[str, str]:
    """(provider name, model) for a submission; raises ProviderSelectionError like `resolve`.

    The user's keys are looked up only for a provider the server has not enabled itself.
    """
    name = provider or registry.default
    keys = user_key_providers(session, user_id) if name not in registry.providers else set()
    return registry.resolve_with_keys(name, model, keys)
