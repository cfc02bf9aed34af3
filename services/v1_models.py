"""Model ids of the OpenAI-compatible API: `provider/model`, so two providers may share a model name.

A bare model name is accepted too when it is unambiguous (the default provider wins a tie), so
code written for OpenAI (`model="gpt-4o-mini"`) runs unchanged.
"""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from extensions import ext_providers
from services.errors import InvalidRequest, NotFound
from services.provider_keys import resolve_for_user, user_key_providers

log = logging.getLogger(__name__)


def catalog(s: Session, user_id: str) -> dict[str, list[str]]:
    """provider -> models the caller may use (server providers, plus those the caller holds a key for)."""
    registry = ext_providers.registry()
    out: dict[str, list[str]] = {}
    for name, provider in registry.providers.items():
        try:
            out[name] = provider.models()
        except Exception as exc:  # a compatible server that cannot list its models right now
            log.warning("provider %s lists no models: %s", name, exc)
    for name in sorted(user_key_providers(s, user_id) - set(registry.providers)):
        if registry.keyable(name):
            out[name] = registry.models_for(name)
    return out


def model_ids(s: Session, user_id: str) -> list[tuple[str, str]]:
    """(id, provider) for every model, the default provider first."""
    default = ext_providers.registry().default
    cat = catalog(s, user_id)
    order = sorted(cat, key=lambda n: (n != default, n))
    return [(f"{name}/{model}", name) for name in order for model in cat[name]]


def _model_not_found(model_id: str) -> NotFound:
    return NotFound(message=f"The model '{model_id}' does not exist", param="model", code="model_not_found")


def get_model(s: Session, user_id: str, model_id: str) -> tuple[str, str]:
    for mid, provider in model_ids(s, user_id):
        if mid == model_id:
            return mid, provider
    raise _model_not_found(model_id)


def resolve(s: Session, user_id: str, model_id: str) -> tuple[str, str, str]:
    """(provider, model, public id) for a request's `model`; a clear 400/404 otherwise."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidRequest("you must provide a model parameter", param="model")
    provider, _, name = model_id.partition("/")
    if not (name and provider in catalog(s, user_id)):
        ids = [mid for mid, _ in model_ids(s, user_id) if mid.split("/", 1)[1] == model_id]
        if not ids:
            raise _model_not_found(model_id)
        provider, name = ids[0].split("/", 1)
    try:
        prov, model = resolve_for_user(s, user_id, provider, name)
    except InvalidRequest as exc:
        raise NotFound(message=exc.message, param="model", code="model_not_found") from None
    return prov, model, f"{prov}/{model}"
