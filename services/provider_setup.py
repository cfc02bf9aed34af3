"""Provider adapters and policies built from the settings (the adapters themselves read no settings)."""
from __future__ import annotations

from providers.base import Provider
from providers.demo import DemoProvider
from providers.registry import ProviderRegistry, VendorConfig
from providers.retry import RetryPolicy
from settings import Settings


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.provider_max_attempts, settings.provider_backoff_initial,
                       settings.provider_backoff_max)


def keyed_vendors(settings: Settings) -> dict[str, VendorConfig]:
    """Vendors a user may bring a key for; base URLs are always the server's (a user's URL would be SSRF)."""
    t = settings.provider_timeout
    vendors = {
        "openai": VendorConfig(settings.openai_base_url or None, _split(settings.openai_models), t),
        "anthropic": VendorConfig(settings.anthropic_base_url or None, _split(settings.anthropic_models), t),
    }
    if settings.openai_compatible_base_url:
        vendors["openai_compatible"] = VendorConfig(settings.openai_compatible_base_url,
                                                    _split(settings.openai_compatible_models), t)
    return vendors


def server_adapters(settings: Settings) -> dict[str, Provider]:
    """The adapters the server's own keys enable (the demo provider always)."""
    from providers.anthropic_provider import AnthropicProvider
    from providers.openai_provider import OpenAIProvider

    st, t = settings, settings.provider_timeout
    providers: dict[str, Provider] = {"demo": DemoProvider(st.demo_tokens_per_second)}
    if st.openai_api_key or st.openai_base_url:
        # OPENAI_BASE_URL alone points the SDK at any compatible server: no key needed, and unless
        # OPENAI_MODELS says otherwise the models are the ones that server lists.
        custom_server = st.openai_base_url and "openai_models" not in st.model_fields_set
        providers["openai"] = OpenAIProvider("openai", st.openai_api_key or "not-needed", st.openai_base_url or None,
                                             [] if custom_server else _split(st.openai_models), t)
    if st.anthropic_api_key:
        providers["anthropic"] = AnthropicProvider(st.anthropic_api_key, st.anthropic_base_url or None,
                                                   _split(st.anthropic_models), t)
    if st.openai_compatible_base_url:
        providers["openai_compatible"] = OpenAIProvider(
            "openai_compatible", st.openai_compatible_api_key, st.openai_compatible_base_url,
            _split(st.openai_compatible_models), t)
    return providers


def build_registry(settings: Settings) -> ProviderRegistry:
    providers = server_adapters(settings)
    default = settings.default_provider or next(
        (p for p in ("openai", "anthropic", "openai_compatible") if p in providers), "demo")
    return ProviderRegistry(providers, default, keyed_vendors(settings))
