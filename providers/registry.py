"""Which providers are enabled, and how a request's `provider`/`model` resolve to one of them.

The registry is handed ready adapters and the server's configuration of the vendors a user may
bring a key for; it reads no settings itself (see `services/provider_setup.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from providers.base import Provider


class ProviderSelectionError(ValueError):
    pass


class UnknownProviderError(ProviderSelectionError):
    pass


class UnknownModelError(ProviderSelectionError):
    pass


# Vendors a user may bring their own key for. The base URL always comes from the server's
# settings: a user-supplied URL would let any user point our workers at any host (SSRF).
KEYED_PROVIDERS = ("openai", "anthropic", "openai_compatible")


@dataclass(frozen=True)
class VendorConfig:
    """The server's configuration of a vendor a user may bring their own key for."""

    base_url: str | None = None
    models: list[str] = field(default_factory=list)
    timeout: float = 60.0


class ProviderRegistry:
    def __init__(self, providers: dict[str, Provider], default: str,
                 keyed: dict[str, VendorConfig] | None = None) -> None:
        if default not in providers:
            raise ProviderSelectionError(f"DEFAULT_PROVIDER {default!r} is not configured")
        self.providers = providers
        self.default = default
        self.keyed = keyed or {}

    def resolve(self, provider: str | None, model: str | None) -> tuple[Provider, str]:
        name = provider or self.default
        adapter = self.providers.get(name)
        if adapter is None:
            raise UnknownProviderError(
                f"unknown provider {name!r}; configured: {', '.join(sorted(self.providers))}")
        models = adapter.models()
        if model is None:
            return adapter, models[0]
        if model not in models:
            raise UnknownModelError(f"unknown model {model!r} for provider {name!r}; available: {', '.join(models)}")
        return adapter, model

    def keyable(self, name: str) -> bool:
        """Whether a user's own key can run `name` here (openai_compatible needs the server's base URL)."""
        return name in self.keyed

    def with_api_key(self, name: str, api_key: str) -> Provider:
        """A fresh adapter for `name` that authenticates with `api_key` (a user's own key).

        Built per job and closed after it, so no user's key outlives the job in a cached client.
        Base URL, models and timeout are the server's; models come from the server's adapter when
        it has one, else from the configured list.
        """
        from providers.anthropic_provider import AnthropicProvider
        from providers.openai_provider import OpenAIProvider

        config = self.keyed.get(name)
        if config is None:
            raise UnknownProviderError(f"provider {name!r} does not take a user key here")
        models = self.models_for(name)
        if name == "anthropic":
            return AnthropicProvider(api_key, config.base_url, models, config.timeout)
        return OpenAIProvider(name, api_key, config.base_url, models, config.timeout)

    def models_for(self, name: str) -> list[str]:
        if name in self.providers:
            try:
                return self.providers[name].models()
            except Exception:  # the server's own adapter cannot list them: fall back to configuration
                pass
        return list(self.keyed[name].models) if name in self.keyed else []

    def resolve_with_keys(self, provider: str | None, model: str | None, user_keys: set[str]) -> tuple[str, str]:
        """Like `resolve`, but a provider the server has not enabled is usable by a user holding a key for it."""
        name = provider or self.default
        if name in self.providers or name not in user_keys or not self.keyable(name):
            adapter, resolved = self.resolve(name, model)
            return adapter.name, resolved
        models = self.models_for(name)
        if not models:
            raise UnknownModelError(f"no models configured for provider {name!r}")
        if model is None:
            return name, models[0]
        if model not in models:
            raise UnknownModelError(f"unknown model {model!r} for provider {name!r}; available: {', '.join(models)}")
        return name, model

    def catalog(self) -> list[dict]:
        return [{"provider": name, "models": p.models(), "default": name == self.default}
                for name, p in self.providers.items()]
