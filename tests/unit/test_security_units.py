"""Security and plugin pieces that need no server: settings refusals, key encryption, plugin loading."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from plugins.loader import PluginLoadError, enabled_plugin_ids, load
from providers.registry import UnknownProviderError
from services.keystore import dev_encryption_key, key_list, key_ring
from services.provider_setup import build_registry
from settings import Settings

STRONG = "k" * 40


def test_production_refuses_to_start_without_an_encryption_key():
    with pytest.raises(ValueError, match="ENCRYPTION_KEY must be set"):
        Settings(environment="production", jwt_secret_key=STRONG, flower_basic_auth="ops:secret-pass")
    with pytest.raises(ValueError, match="JWT_SECRET_KEY"):
        Settings(environment="production", jwt_secret_key="x" * 31, flower_basic_auth="ops:secret-pass",
                 encryption_key=Fernet.generate_key().decode())


def test_encryption_key_entries_must_be_fernet_keys():
    good = Fernet.generate_key().decode()
    with pytest.raises(ValueError, match="entry 2 is not a Fernet key"):
        Settings(encryption_key=f"{good},not-a-key")
    assert key_list(Settings(encryption_key=f" {good} , {Fernet.generate_key().decode()}"))[0] == good


def test_development_key_is_derived_from_the_jwt_secret_and_differs_per_secret():
    a = Settings(jwt_secret_key="a" * 40)
    b = Settings(jwt_secret_key="b" * 40)
    assert key_list(a) == [dev_encryption_key("a" * 40)]
    assert dev_encryption_key("a" * 40) != dev_encryption_key("b" * 40)
    token = key_ring(a).encrypt(b"sk-secret")
    with pytest.raises(InvalidToken):
        key_ring(b).decrypt(token)


def test_ring_encrypts_with_the_newest_key_and_reads_older_ones():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = key_ring(Settings(encryption_key=old)).encrypt(b"sk-1234")
    ring = key_ring(Settings(encryption_key=f"{new},{old}"))
    assert ring.decrypt(before) == b"sk-1234"
    rotated = ring.rotate(before)
    assert MultiFernet([Fernet(new)]).decrypt(rotated) == b"sk-1234"
    with pytest.raises(InvalidToken):
        Fernet(old).decrypt(rotated)


def test_user_keys_never_accept_an_unconfigured_compatible_server():
    registry = build_registry(Settings())
    assert registry.keyable("openai") and registry.keyable("anthropic")
    assert not registry.keyable("openai_compatible") and not registry.keyable("demo")
    with pytest.raises(UnknownProviderError):
        registry.with_api_key("openai_compatible", "sk-user-key")
    name, model = registry.resolve_with_keys("anthropic", None, {"anthropic"})
    assert (name, model) == ("anthropic", "claude-sonnet-4-5")
    with pytest.raises(UnknownProviderError):
        registry.resolve_with_keys("anthropic", None, set())


class Recorder:
    def on_message_sent(self, event):
        pass


def test_plugins_load_only_when_enabled_and_only_their_own_ids():
    settings = Settings(plugins="tests.unit.test_security_units:Recorder", plugin_entry_points=False)
    assert enabled_plugin_ids(settings) == ["tests.unit.test_security_units:Recorder"]
    assert isinstance(load("tests.unit.test_security_units:Recorder", settings), Recorder)
    with pytest.raises(PluginLoadError, match="not enabled"):
        load("os:system", settings)
    with pytest.raises(PluginLoadError, match="cannot import"):
        load("no_such_module:Thing", Settings(plugins="no_such_module:Thing", plugin_entry_points=False))


def test_production_adds_hsts(tmp_path):
    from web import create_app

    app = create_app(Settings(environment="production", jwt_secret_key=STRONG, flower_basic_auth="ops:secret-pass",
                              encryption_key=Fernet.generate_key().decode(), ws_allowed_origins="https://x.example",
                              database_url=f"sqlite:///{tmp_path / 'never.db'}", redis_url="redis://127.0.0.1:1/0"))
    r = app.test_client().get("/api/nope")
    assert r.status_code == 404
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert r.headers["X-Frame-Options"] == "DENY"
