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


class ProviderRegistry:
    def __init__(self, providers: dict[str, Provider], default: str) -> None:
        self.providers = providers
        self.default = default

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
        return cls(providers, default)

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

    def catalog(self) -> list[dict]:
        return [{"provider": name, "models": p.models(), "default": name == self.default}
                for name, p in self.providers.items()]
