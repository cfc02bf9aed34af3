"""Provider adapters, their shared budgets, the retry policy, and the key ring of stored user keys."""
from __future__ import annotations

from cryptography.fernet import MultiFernet
from flask import Flask

from extensions.ext_redis import store
from extensions.ext_settings import settings
from extensions.slot import Slot
from providers.limits import ProviderLimiter, budgets_from
from providers.registry import ProviderRegistry
from providers.retry import RetryPolicy
from services.keystore import key_ring
from services.provider_setup import build_registry, retry_policy
from settings import parse_provider_limits

_registry: Slot[ProviderRegistry] = Slot("providers")
_limiter: Slot[ProviderLimiter] = Slot("provider_limiter")
_retry: Slot[RetryPolicy] = Slot("retry_policy")
_ring: Slot[MultiFernet] = Slot("key_ring")


def init_app(app: Flask) -> None:
    s = settings(app)
    _registry.set(app, build_registry(s))  # adapters build their SDK clients on first use
    _limiter.set(app, ProviderLimiter(store(app).r, store(app).key("provider"),
                                      budgets_from(parse_provider_limits(s.provider_limits)),
                                      s.provider_slot_lease, s.provider_limit_max_wait))
    _retry.set(app, retry_policy(s))
    _ring.set(app, key_ring(s))


def registry(app: Flask | None = None) -> ProviderRegistry:
    return _registry.get(app)


def limiter(app: Flask | None = None) -> ProviderLimiter:
    return _limiter.get(app)


def retries(app: Flask | None = None) -> RetryPolicy:
    return _retry.get(app)


def ring(app: Flask | None = None) -> MultiFernet:
    return _ring.get(app)
