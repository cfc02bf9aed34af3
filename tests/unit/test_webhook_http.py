"""The webhook signer agrees with the official SDK's verifier, and the address check refuses private,
loopback, link-local, multicast and metadata addresses unless a setting allows them."""
from __future__ import annotations

import time

import openai
import pytest

from services import webhook_http
from services.webhooks import new_secret
from settings import Settings


def _headers(secret: str, msg_id: str, ts: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": webhook_http.sign(secret, msg_id, ts, body)}


def test_the_official_sdk_verifies_our_signature():
    secret, body, ts = new_secret(), b'{"id":"evt_1","type":"batch.completed"}', int(time.time())
    sdk = openai.OpenAI(api_key="unused")
    sdk.webhooks.verify_signature(body, _headers(secret, "evt_1", ts, body), secret=secret)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.verify_signature(body + b" ", _headers(secret, "evt_1", ts, body), secret=secret)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.verify_signature(body, _headers(secret, "evt_1", ts, body), secret=new_secret())


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                  "100.100.100.200", "224.0.0.1", "0.0.0.0", "::1", "fe80::1", "fd00:ec2::254",
                                  "::ffff:10.0.0.1"])
def test_private_addresses_are_refused(host: str):
    with pytest.raises(webhook_http.Refused):
        webhook_http.resolve_checked(host, 443, Settings(_env_file=None))


def test_a_setting_allows_networks_or_hosts():
    allowed = Settings(_env_file=None, webhook_allowed_networks="127.0.0.0/8, 10.0.0.0/8")
    assert webhook_http.resolve_checked("127.0.0.5", 80, allowed) == "127.0.0.5"
    assert webhook_http.resolve_checked("10.9.9.9", 80, allowed) == "10.9.9.9"
    with pytest.raises(webhook_http.Refused):
        webhook_http.resolve_checked("192.168.0.1", 80, allowed)


def test_a_public_address_passes():
    assert webhook_http.resolve_checked("93.184.216.34", 443, Settings(_env_file=None)) == "93.184.216.34"


def test_retry_after_and_what_is_retried():
    assert webhook_http._retry_after("7") == 7.0
    assert webhook_http._retry_after("soon") is None
    assert webhook_http.retryable(webhook_http.Answer(None, None, error="timeout"))
    assert webhook_http.retryable(webhook_http.Answer(429, ""))
    assert webhook_http.retryable(webhook_http.Answer(502, ""))
    assert not webhook_http.retryable(webhook_http.Answer(302, ""))
    assert not webhook_http.retryable(webhook_http.Answer(404, ""))


def _app(**overrides):
    from flask import Flask

    from extensions import ext_settings

    app = Flask(__name__)
    ext_settings.init_app(app, Settings(_env_file=None, **overrides))
    return app


@pytest.mark.parametrize("url", ["http://hooks.example/x", "ftp://hooks.example/x", "https://u:p@hooks.example/x",
                                 "https:///nohost", "", 42])
def test_https_required_takes_https_urls_only(url):
    from services.errors import InvalidRequest
    from services.webhooks import check_url

    with _app(environment="development", webhook_require_https=True).app_context():
        with pytest.raises(InvalidRequest):
            check_url(url)
        assert check_url("https://hooks.example/x") == "https://hooks.example/x"


def test_http_is_allowed_outside_production_unless_required():
    from services.webhooks import check_url

    with _app(environment="development").app_context():
        assert check_url("http://127.0.0.1:9/x") == "http://127.0.0.1:9/x"


def test_backoff_grows_honours_retry_after_and_is_capped():
    from services.webhook_delivery import backoff_seconds

    with _app(webhook_backoff_initial=1.0, webhook_backoff_max=10.0).app_context():
        waits = [backoff_seconds(n, None) for n in (1, 2, 3, 4, 5, 6)]
        assert waits == sorted(waits) and waits[0] >= 1.0 and waits[-1] == 10.0
        assert backoff_seconds(1, 7.0) == 7.0
        assert backoff_seconds(1, 3600.0) == 10.0
