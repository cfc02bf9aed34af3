"""Model ids of the OpenAI-compatible API: `provider/model`, so two providers may share a model name.

A bare model name is accepted too when it is unambiguous (the default provider wins a tie), so
code written for OpenAI (`model="gpt-4o-mini"`) runs unchanged.
"""
from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.orm import Session

from providers.registry import ProviderSelectionError
from services import v1_gateway as gw
from services.errors import InvalidRequest, NotFound

log = logging.getLogger(__name__)


def catalog(app: Flask, s: Session, user_id: str) -> dict[str, list[str]]:
    """provider -> models the caller may use (server providers, plus those the caller holds a key for)."""
    registry = gw.registry(app)
    out: dict[str, list[str]] = {}
    for name, provider in registry.providers.items():
        try:
            out[name] = provider.models()
        except Exception as exc:  # a compatible server that cannot list its models right now
            log.warning("provider %s lists no models: %s", name, exc)
    for name in sorted(gw.user_key_providers(s, user_id) - set(registry.providers)):
        if registry.keyable(name):
            out[name] = registry.models_for(name)
    return out


def model_ids(app: Flask, s: Session, user_id: str) -> list[tuple[str, str]]:
    """(id, provider) for every model, the default provider first."""
    default = gw.registry(app).default
    cat = catalog(app, s, user_id)
    order = sorted(cat, key=lambda n: (n != default, n))
    return [(f"{name}/{model}", name) for name in order for model in cat[name]]


def get_model(app: Flask, s: Session, user_id: str, model_id: str) -> tuple[str, str]:
    for mid, provider in model_ids(app, s, user_id):
        if mid == model_id:
            return mid, provider
    raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")


def resolve(app: Flask, s: Session, user_id: str, model_id: str) -> tuple[str, str, str]:
    """(provider, model, public id) for a request's `model`; a clear 400/404 otherwise."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidRequest("you must provide a model parameter", param="model")
    provider, _, name = model_id.partition("/")
    if name and provider in catalog(app, s, user_id):
        candidates = [(provider, name)]
    else:
        ids = [mid for mid, _ in model_ids(app, s, user_id) if mid.split("/", 1)[1] == model_id]
        if not ids:
            raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
        candidates = [tuple(ids[0].split("/", 1))]
    prov, model = candidates[0]
    try:
        prov, model = gw.resolve_provider(app, s, user_id, prov, model)
    except ProviderSelectionError as exc:
        raise NotFound(str(exc), param="model", code="model_not_found") from None
    return prov, model, f"{prov}/{model}"
