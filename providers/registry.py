"""Which providers are enabled, and how a request's `provider`/`model` resolve to one of them.

Adapters are registered only when configured (the demo provider always); SDK clients are built
lazily, so constructing the registry touches no network.
"""
from __future__ import annotations

from providers.base import Provider
from providers.demo import DemoProvider
from settings import Settings


class ProviderSelectionError(ValueError):
    pass


class UnknownProviderError(ProviderSelectionError):
    pass


class UnknownModelError(ProviderSelectionError):
    pass


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


# Vendors a user may bring their own key for. The base URL always comes from the server's
# settings: a user-supplied URL would let any user point our workers at any host (SSRF).
KEYED_PROVIDERS = ("openai", "anthropic", "openai_compatible")


class ProviderRegistry:
    def __init__(self, providers: dict[str, Provider], default: str, settings: Settings | None = None) -> None:
        self.providers = providers
        self.default = default
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> "ProviderRegistry":
        providers: dict[str, Provider] = {"demo": DemoProvider(settings.demo_tokens_per_second)}
        if settings.openai_api_key or settings.openai_base_url:
            from providers.openai_provider import OpenAIProvider

            # OPENAI_BASE_URL alone points the SDK at any compatible server: no key needed, and unless
            # OPENAI_MODELS says otherwise the models are the ones that server lists.
            custom_server = settings.openai_base_url and "openai_models" not in settings.model_fields_set
            providers["openai"] = OpenAIProvider(
                "openai", settings.openai_api_key or "not-needed", settings.openai_base_url or None,
                [] if custom_server else _split(settings.openai_models), settings.provider_timeout)
        if settings.anthropic_api_key:
            from providers.anthropic_provider import AnthropicProvider

            providers["anthropic"] = AnthropicProvider(
                settings.anthropic_api_key, settings.anthropic_base_url or None,
                _split(settings.anthropic_models), settings.provider_timeout)
        if settings.openai_compatible_base_url:
            from providers.openai_provider import OpenAIProvider

            providers["openai_compatible"] = OpenAIProvider(
                "openai_compatible", settings.openai_compatible_api_key, settings.openai_compatible_base_url,
                _split(settings.openai_compatible_models), settings.provider_timeout)
        default = settings.default_provider or next(
            (p for p in ("openai", "anthropic", "openai_compatible") if p in providers), "demo")
        if default not in providers:
            raise ProviderSelectionError(f"DEFAULT_PROVIDER {default!r} is not configured")
        return cls(providers, default, settings)

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
        if name not in KEYED_PROVIDERS or self.settings is None:
            return False
        return name != "openai_compatible" or bool(self.settings.openai_compatible_base_url)

    def with_api_key(self, name: str, api_key: str) -> Provider:
        """A fresh adapter for `name` that authenticates with `api_key` (a user's own key).

        Built per job and closed after it, so no user's key outlives the job in a cached client.
        Base URL, models and timeout are the server's; models come from the server's adapter when
        it has one, else from the configured list.
        """
        from providers.anthropic_provider import AnthropicProvider
        from providers.openai_provider import OpenAIProvider

        st = self.settings
        if st is None or not self.keyable(name):
            raise UnknownProviderError(f"provider {name!r} does not take a user key here")
        models = self.models_for(name)
        if name == "anthropic":
            return AnthropicProvider(api_key, st.anthropic_base_url or None, models, st.provider_timeout)
        base_url = st.openai_base_url if name == "openai" else st.openai_compatible_base_url
        return OpenAIProvider(name, api_key, base_url or None, models, st.provider_timeout)

    def models_for(self, name: str) -> list[str]:
        st = self.settings
        assert st is not None
        if name in self.providers:
            try:
                return self.providers[name].models()
            except Exception:  # the server's own adapter cannot list them: fall back to configuration
                pass
        configured = {"openai": st.openai_models, "anthropic": st.anthropic_models,
                      "openai_compatible": st.openai_compatible_models}[name]
        return _split(configured)

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
