"""Provider adapters through the official SDKs against the local fake vendor server."""
from __future__ import annotations

import pytest

from providers.anthropic_provider import AnthropicProvider
from providers.base import ChatMessage, CompletionRequest
from providers.demo import DemoProvider
from providers.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from providers.openai_provider import OpenAIProvider
from providers.registry import UnknownModelError, UnknownProviderError
from providers.retry import RetryPolicy, stream_with_retries
from services.provider_setup import build_registry
from settings import Settings
from tests.fakes.llm_server import FakeLLMServer


def req(text: str, model: str = "gpt-4o-mini", system: str | None = None) -> CompletionRequest:
    return CompletionRequest(model=model, messages=[ChatMessage("user", text)], max_tokens=100, system=system)


@pytest.fixture()
def fake():
    with FakeLLMServer() as srv:
        yield srv


def adapters(fake: FakeLLMServer, timeout: float = 5.0):
    return [
        OpenAIProvider("openai", "sk-test", fake.base_url + "/v1", ["gpt-4o-mini"], timeout),
        AnthropicProvider("ak-test", fake.base_url, ["claude-sonnet-4-5"], timeout),
    ]


def model_of(p) -> str:
    return p.models()[0]


def collect(chunks):
    chunks = list(chunks)
    return "".join(c.text for c in chunks), chunks[-1]


@pytest.mark.parametrize("which", [0, 1])
def test_streams_through_the_real_sdk(fake, which):
    provider = adapters(fake)[which]
    text, last = collect(provider.stream(req("[fake:tokens=7] hi", model_of(provider), system="Be brief.")))
    assert text == "".join(f"w{i} " for i in range(7))
    assert last.usage is not None and last.usage.output_tokens == 7
    sent = fake.requests[-1]
    assert sent["json"]["stream"] is True
    if which == 0:
        assert sent["json"]["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent["headers"]["authorization"] == "Bearer sk-test"
    else:
        assert sent["json"]["system"] == "Be brief."


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("behaviour,error", [
    ({"status": 401}, AuthenticationError),
    ({"status": 400}, BadRequestError),
    ({"status": 400, "context_window": True}, ContextWindowExceededError),
    ({"status": 429, "retry_after": 7}, RateLimitError),
    ({"status": 500}, ProviderUnavailableError),
])
def test_vendor_errors_map_to_one_hierarchy(fake, which, behaviour, error):
    provider = adapters(fake)[which]
    fake.script([behaviour])
    with pytest.raises(error) as exc:
        list(provider.stream(req("x", model_of(provider))))
    assert exc.value.provider == provider.name and exc.value.status == behaviour["status"]
    assert exc.value.retryable == (behaviour["status"] >= 429)
    if "retry_after" in behaviour:
        assert exc.value.retry_after == 7


def test_hang_times_out_as_a_retryable_error(fake):
    provider = adapters(fake, timeout=0.5)[0]
    fake.script([{"hang": 3}])
    with pytest.raises(ProviderTimeoutError) as exc:
        list(provider.stream(req("x")))
    assert exc.value.retryable


def settings() -> RetryPolicy:
    return RetryPolicy(max_attempts=4, backoff_initial=0.5, backoff_max=20)


@pytest.mark.parametrize("which", [0, 1])
def test_retry_honours_retry_after_then_succeeds(fake, which):
    provider = adapters(fake)[which]
    fake.script([{"status": 429, "retry_after": 3}, {"status": 500}])
    waits: list[float] = []
    retries = []
    text, _ = collect(stream_with_retries(provider, req("[fake:tokens=3] r", model_of(provider)), settings(),
                                          on_retry=lambda e, n, out: retries.append((e.code, n, out)),
                                          sleep=waits.append))
    assert text == "w0 w1 w2 "
    assert [r[0] for r in retries] == ["rate_limited", "provider_unavailable"]
    assert waits[0] >= 3 and waits[0] <= 20  # Retry-After honoured, within the cap
    assert 0 <= waits[1] <= 20


def test_non_retryable_errors_fail_at_once(fake):
    provider = adapters(fake)[0]
    fake.script([{"status": 401}])
    waits: list[float] = []
    with pytest.raises(AuthenticationError):
        list(stream_with_retries(provider, req("x"), settings(), sleep=waits.append))
    assert waits == [] and len(fake.requests) == 1


def test_attempts_are_capped(fake):
    provider = adapters(fake)[0]
    fake.script([{"status": 503}] * 10)
    with pytest.raises(ProviderUnavailableError):
        list(stream_with_retries(provider, req("x"), settings(), sleep=lambda s: None))
    assert len(fake.requests) == 4


def test_retry_after_is_capped(fake):
    provider = adapters(fake)[0]
    fake.script([{"status": 429, "retry_after": 3600}])
    waits: list[float] = []
    list(stream_with_retries(provider, req("x"), settings(), sleep=waits.append))
    assert waits == [20]


@pytest.mark.parametrize("which", [0, 1])
def test_drop_mid_stream_restarts_and_says_so(fake, which):
    provider = adapters(fake)[which]
    fake.script([{"drop_after_tokens": 3}])
    retries = []
    chunks = list(stream_with_retries(provider, req("[fake:tokens=5] d", model_of(provider)), settings(),
                                      on_retry=lambda e, n, out: retries.append(out), sleep=lambda s: None))
    assert retries == [True]
    # tokens that arrive in one read may leave as one chunk: the text is the contract, not the cuts
    assert "".join(c.text for c in chunks) == "w0 w1 w2 " + "w0 w1 w2 w3 w4 "


def test_closing_the_stream_early_closes_the_connection(fake):
    fake.set_rate(50)
    provider = adapters(fake)[0]
    stream = stream_with_retries(provider, req("[fake:tokens=500] c"), settings())
    assert next(stream).text == "w0 "
    stream.close()
    import time

    deadline = time.time() + 5
    while fake.disconnects == 0 and time.time() < deadline:
        time.sleep(0.05)
    assert fake.disconnects == 1


def test_demo_is_deterministic_and_honours_markers():
    demo = DemoProvider(tokens_per_second=0)
    a, last = collect(demo.stream(req("hello there", "demo-1")))
    b, _ = collect(demo.stream(req("hello there", "demo-1")))
    assert a == b and a.startswith("Demo reply to: hello there")
    assert last.usage.output_tokens == len(a.split())
    text, _ = collect(demo.stream(req("[demo:tokens=4] x", "demo-1")))
    assert text == "tok0 tok1 tok2 tok3 "
    with pytest.raises(BadRequestError):
        list(demo.stream(req("[demo:fail]", "demo-1")))


@pytest.mark.parametrize("which,reason", [(0, "stop"), (1, "end_turn")])
def test_the_last_chunk_carries_the_vendors_finish_reason(fake, which, reason):
    provider = adapters(fake)[which]
    _text, last = collect(provider.stream(req("[fake:tokens=3] hi", model_of(provider))))
    assert last.finish_reason == reason


def test_demo_stops_at_a_stop_sequence_and_says_why():
    demo = DemoProvider(tokens_per_second=0)
    stopped = CompletionRequest(model="demo-1", messages=[ChatMessage("user", "[demo:tokens=6] x")], max_tokens=100,
                                stop=("tok3",))
    text, last = collect(demo.stream(stopped))
    assert text == "tok0 tok1 tok2 " and last.finish_reason == "stop"
    cut = CompletionRequest(model="demo-1", messages=[ChatMessage("user", "[demo:tokens=6] x")], max_tokens=2)
    text, last = collect(demo.stream(cut))
    assert text == "tok0 tok1 " and last.finish_reason == "length"
    _text, last = collect(demo.stream(req("[demo:tokens=2] x", "demo-1")))
    assert last.finish_reason == "stop"


def test_registry_resolves_and_refuses():
    reg = build_registry(Settings(openai_api_key="", anthropic_api_key=""))
    provider, model = reg.resolve(None, None)
    assert provider.name == "demo" and model == "demo-1"
    with pytest.raises(UnknownProviderError, match="configured: demo"):
        reg.resolve("openai", None)
    with pytest.raises(UnknownModelError, match="demo-1"):
        reg.resolve("demo", "gpt-9")
    reg = build_registry(Settings(openai_api_key="k", anthropic_api_key="a",
                                                  openai_compatible_base_url="http://127.0.0.1:9/v1",
                                                  openai_compatible_models="llama3"))
    assert reg.default == "openai"
    assert {c["provider"] for c in reg.catalog()} == {"demo", "openai", "anthropic", "openai_compatible"}
    assert reg.resolve("openai_compatible", "llama3")[1] == "llama3"


def test_compatible_server_models_come_from_its_model_list(fake):
    p = OpenAIProvider("openai_compatible", "x", fake.base_url + "/v1", [], 5)
    assert p.models() == ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5"]


def test_openai_base_url_alone_enables_openai_with_the_servers_models(fake):
    reg = build_registry(Settings(openai_api_key="", openai_base_url=fake.base_url + "/v1"))
    provider, model = reg.resolve("openai", "gpt-4o")
    assert model == "gpt-4o" and reg.default == "openai"
    text, _ = collect(provider.stream(req("[fake:tokens=2] x", model)))
    assert text == "w0 w1 "
    pinned = build_registry(Settings(openai_base_url=fake.base_url + "/v1", openai_models="only-this"))
    assert pinned.resolve("openai", None)[1] == "only-this"
