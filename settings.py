"""All configuration in one pydantic-settings object, read from environment variables.

Grouped by concern; every field has a default that lets `make run` start with no configuration.
The README's configuration table is checked against this class by a unit test.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-insecure-jwt-secret-change-me-0123456789"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # --- runtime ---
    environment: Literal["development", "test", "production"] = Field(
        "development", description="Deployment mode; `production` refuses weak secrets."
    )
    log_level: str = Field("INFO", description="Root log level.")

    # --- data ---
    database_url: str = Field(
        "sqlite:///var/chat_studio.db",
        description="SQLAlchemy URL. PostgreSQL in production (`postgresql+psycopg2://...`); a SQLite file by default.",
    )
    db_pool_size: int = Field(20, description="PostgreSQL connections per process. A connection is held only for "
                              "the statements of one transaction, so a few serve hundreds of greenlets; keep "
                              "processes × (pool + overflow) under the server's `max_connections` (see README).")
    db_max_overflow: int = Field(0, description="Extra connections allowed above the pool size (counts in the budget).")
    db_pool_timeout: int = Field(30, description="Seconds a request or job waits for a pooled connection before 503.")
    db_pool_recycle: int = Field(3600, description="Seconds after which a pooled connection is replaced.")

    # --- redis ---
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for cache, events, blocklist and Celery broker.")
    celery_broker_url: str = Field("", description="Celery broker; empty = `REDIS_URL`.")
    redis_key_prefix: str = Field("chat:", description="Prefix of every Redis key we write (also the broker's keys).")
    redis_max_connections: int = Field(64, description="Redis connections per process and pool (ours and the rate "
                                       "limiter's). A blocking pool: past it a command waits for a free connection "
                                       "(up to `REDIS_POOL_TIMEOUT`) instead of failing with `Too many connections`.")
    redis_pool_timeout: float = Field(10.0, description="Seconds a command waits for a free pooled Redis connection.")

    # --- auth ---
    jwt_secret_key: str = Field(DEV_JWT_SECRET, description="HMAC secret for JWTs (≥ 32 characters in production).")
    jwt_access_minutes: int = Field(60, description="Access token lifetime in minutes.")
    jwt_refresh_days: int = Field(30, description="Refresh token lifetime in days.")

    # --- http ---
    max_content_length: int = Field(1_048_576, description="Largest accepted request body in bytes (413 above).")
    ws_allowed_origins: str = Field(
        "*", description="Comma-separated Origins allowed on WebSockets; `*` allows any (development only: "
        "`*` or an empty list is refused in production)."
    )

    # --- security ---
    encryption_key: str = Field(
        "", description="Comma-separated Fernet keys, newest first, encrypting stored provider keys (rotate by "
        "prepending a new key, then `python -m scripts.rotate_keys`); empty = a key derived from "
        "`JWT_SECRET_KEY` (refused in production)."
    )
    cors_allowed_origins: str = Field(
        "", description="Comma-separated Origins allowed to call the API from a browser (CORS); empty = none "
        "(same origin only); `*` = any (credentials are never allowed)."
    )

    # --- conversations ---
    default_model: str = Field("demo-1", description="Model given to a conversation that names none.")
    max_message_chars: int = Field(100_000, description="Longest message content accepted, in characters.")

    # --- providers ---
    default_provider: str = Field(
        "", description="Provider used when a request names none; empty = `openai` if `OPENAI_API_KEY` is set, "
        "else `anthropic` if `ANTHROPIC_API_KEY` is set, else `demo`."
    )
    openai_api_key: str = Field("", description="Enables the `openai` provider (the SDK's own variable).")
    openai_base_url: str = Field(
        "", description="Base URL for the `openai` provider (the SDK's own variable); set alone, it enables "
        "`openai` against that OpenAI-compatible server with the models it lists."
    )
    openai_models: str = Field("gpt-4o-mini,gpt-4o,gpt-4.1-mini,gpt-3.5-turbo,gpt-4",
                               description="Comma-separated models offered for `openai`.")
    anthropic_api_key: str = Field("", description="Enables the `anthropic` provider (the SDK's own variable).")
    anthropic_base_url: str = Field("", description="Base URL for the `anthropic` provider (the SDK's own variable).")
    anthropic_models: str = Field("claude-sonnet-4-5,claude-haiku-4-5,claude-3-opus-20240229",
                                  description="Comma-separated models offered for `anthropic`.")
    openai_compatible_base_url: str = Field(
        "", description="Enables the `openai_compatible` provider: any OpenAI-compatible server (vLLM, Ollama, "
        "llama.cpp, LM Studio), e.g. `http://127.0.0.1:11434/v1`."
    )
    openai_compatible_api_key: str = Field("not-needed", description="Key sent to the OpenAI-compatible server.")
    openai_compatible_models: str = Field(
        "", description="Comma-separated models of the OpenAI-compatible server; empty = ask its `/models`."
    )
    demo_tokens_per_second: float = Field(50.0, description="Token rate of the offline `demo` provider.")
    provider_timeout: float = Field(60.0, description="Seconds before a provider call (or a stalled stream) times out.")
    provider_max_attempts: int = Field(5, description="Attempts per provider call for retryable errors.")
    provider_backoff_initial: float = Field(0.5, description="First retry delay, seconds (exponential, jittered).")
    provider_backoff_max: float = Field(20.0, description="Longest single retry delay, seconds (also caps Retry-After).")

    # --- jobs and streaming ---
    job_max_attempts: int = Field(3, description="Attempts of one job (worker crashes, restarts) before it fails.")
    job_lease_seconds: int = Field(15, description="A running job whose worker stops renewing its lease this long "
                                   "is taken over by another worker.")
    job_early_start_within: float = Field(1.0, description="A chat task delivered within this many seconds of "
                                          "its submission opens the vendor call while the worker claims the job "
                                          "(the vendor's wait overlaps the claim); 0 turns it off.")
    reconcile_interval: float = Field(10.0, description="Seconds between reconciler passes in each worker.")
    reconcile_queued_after: int = Field(30, description="Seconds a job may sit in `queued` before it is re-enqueued.")
    event_log_max: int = Field(50_000, description="Events kept per job stream (Redis Stream cap).")
    event_log_ttl: int = Field(86_400, description="Seconds a finished job's event stream is kept for replay.")
    event_batch_linger_ms: float = Field(2.0, ge=0, le=50, description="When a worker's event writes arrive "
                                         "closer together than this (many streams at once), it waits this long so "
                                         "more share one Redis round trip; 0 = never wait.")
    chat_wait_timeout: float = Field(120.0, description="Seconds `POST /api/chat/ai` waits for its job.")
    sse_keepalive: float = Field(15.0, description="Seconds between SSE keep-alive comments.")

    # --- realtime chat ---
    ws_ping_interval: float = Field(30.0, description="Seconds between WebSocket pings; a socket that misses a pong "
                                    "for one interval is closed (so within two intervals).")
    ws_max_frame_bytes: int = Field(65_536, description="Largest WebSocket frame a client may send; a bigger one "
                                    "closes the socket with 1009.")
    ws_compression: bool = Field(False, description="Negotiate permessage-deflate on chat sockets (costs ~90 KiB "
                                 "per socket).")
    ws_socket_send_buffer: int = Field(0, description="Kernel send buffer (SO_SNDBUF) of each chat socket in "
                                       "bytes; 0 = the OS default (autotuned, up to megabytes per socket).")
    chat_max_content_chars: int = Field(4000, description="Longest room or private message, in characters.")
    chat_messages_per_second: int = Field(20, description="Chat messages one user may send in any one second "
                                          "(a sliding window), across every socket and web process.")
    chat_abuse_factor: int = Field(3, description="A user sending this many times the per-second limit within "
                                   "one second is disconnected (4029); below it, extra messages get an error frame.")
    chat_max_bad_frames: int = Field(10, description="Malformed frames in a row after which a socket is closed "
                                     "(1008); fewer get an error frame each.")
    chat_send_buffer: int = Field(1000, description="Frames queued for one socket; a slower consumer is "
                                  "disconnected (4008) and its deliveries stay pending.")
    chat_ack_timeout: float = Field(10.0, description="Seconds a pushed message may stay unacknowledged before "
                                    "the worker redelivers it.")
    chat_redelivery_interval: float = Field(2.0, description="Seconds between the worker's redelivery sweeps.")
    chat_redelivery_backoff_max: float = Field(300.0, description="Longest wait between two redeliveries, seconds.")
    chat_max_delivery_attempts: int = Field(8, description="Sends without an ack (redeliveries and reconnect "
                                            "replays) before a delivery goes to the dead letters.")

    # --- conversations at scale ---
    batch_sync_limit: int = Field(100, description="Batch create/delete of more items than this runs as a job.")
    batch_max_items: int = Field(5000, description="Most items one batch request may carry.")
    cache_ttl: int = Field(300, description="Seconds a cached conversation list page or stats answer lives.")
    gzip_min_size: int = Field(1000, description="Responses at least this many bytes are gzipped when the client "
                               "accepts it.")
    import_max_bytes: int = Field(64 * 1024 * 1024, description="Largest NDJSON body "
                                  "`POST /api/conversations/import` accepts.")
    v1_file_max_bytes: int = Field(16 * 1024 * 1024, description="Largest file `POST /v1/files` accepts "
                                   "(a batch input JSONL).")

    # --- webhooks ---
    webhook_allowed_networks: str = Field("", description="Comma-separated networks (CIDR) or host names webhooks "
                                          "may reach although private, loopback or link-local; empty = none.")
    webhook_require_https: bool | None = Field(None, description="Refuse `http://` webhook URLs; unset = only in "
                                               "production.")
    webhook_connect_timeout: float = Field(3.0, description="Seconds to connect to a webhook receiver.")
    webhook_read_timeout: float = Field(10.0, description="Seconds to wait for a webhook receiver's answer.")
    webhook_max_attempts: int = Field(8, description="Attempts of one webhook delivery before it is `dead`.")
    webhook_backoff_initial: float = Field(1.0, description="Seconds before the first webhook retry (doubling).")
    webhook_backoff_max: float = Field(600.0, description="Longest wait between two webhook attempts, seconds "
                                       "(also caps a receiver's `Retry-After`).")
    webhook_sweep_interval: float = Field(5.0, description="Seconds between the worker's sweeps for due webhook "
                                          "deliveries (retries, and deliveries a lost worker left behind).")
    webhook_requeue_after: float = Field(30.0, gt=0, description="Seconds after which a sweep sends a queued "
                                         "webhook delivery again when its task was lost (a worker died).")
    webhook_max_endpoints: int = Field(10, description="Webhook endpoints one user may register.")
    webhook_deliveries_per_window: int = Field(120, description="Webhook attempts per user per rate window; more "
                                               "wait for the next window.")
    webhook_rate_window: int = Field(60, ge=1, description="Seconds of the webhook rate window (fixed windows, "
                                     "aligned to the clock).")

    # --- celery / flower ---
    celery_task_time_limit: int = Field(900, description="Hard time limit of one task, seconds.")
    celery_visibility_timeout: int = Field(3600, description="Seconds before an unacknowledged task is redelivered.")
    flower_basic_auth: str = Field("admin:admin", description="`user:password` protecting Flower.")
    flower_port: int = Field(5555, description="Port Flower listens on.")
    flower_address: str = Field("0.0.0.0", description="Address Flower binds (every interface, as the Procfile's "
                                "web process; `python3 dev.py run` binds `BIND_HOST`, loopback by default).")

    # --- rate limits ---
    ratelimit_enabled: bool = Field(True, description="Apply the HTTP rate limits below (Redis storage shared by "
                                    "every web process; fails open with a log line while Redis is down).")
    ratelimit_strategy: Literal["moving-window", "sliding-window-counter", "fixed-window"] = Field(
        "moving-window", description="How limits count: `moving-window` is exact (a Redis list per key, its cost "
        "grows with the limit's size), `sliding-window-counter` is two counters (constant cost, approximate), "
        "`fixed-window` allows a double burst at window edges.")
    ratelimit_default: str = Field("300/minute", description="Global limit per user (per IP when anonymous) on "
                                   "every route without its own limit; health, metrics and WebSockets are exempt.")
    ratelimit_chat: str = Field("10/minute", description="Chat submissions per user (`POST /api/chat`, "
                                "`/api/chat/ai`, `/api/batches`).")
    ratelimit_login_ip: str = Field("20/minute", description="Login attempts per client IP.")
    ratelimit_login_account: str = Field("5/minute", description="Login attempts per account (username or email "
                                         "in the body), whatever the IP.")
    ratelimit_register_ip: str = Field("10/hour", description="Registrations per client IP.")
    trusted_proxies: int = Field(0, description="Reverse proxies in front of the app whose `X-Forwarded-For` is "
                                 "trusted for the client IP (0 = use the socket peer).")
    provider_limits: str = Field("", description="Per-provider budget shared by all workers, e.g. "
                                 "`openai=concurrency:50,rpm:500;anthropic=concurrency:20`; empty = unlimited.")
    provider_limit_max_wait: float = Field(600.0, description="Longest a job waits for a provider slot before it "
                                           "fails with `rate_limited`, seconds.")
    provider_slot_lease: int = Field(120, description="Seconds a provider slot outlives a worker that stopped "
                                     "renewing it (a crashed worker frees its slots after this); keep it above "
                                     "`PROVIDER_TIMEOUT`.")

    # --- observability ---
    prometheus_multiproc_dir: str = Field(
        "var/prometheus", description="Directory where every web and worker process of one host writes its "
        "metrics (prometheus_client multiprocess mode); emptied by `dev.py run`, empty it on each deploy.")
    worker_metrics_port: int = Field(0, description="Port where a Celery worker serves the metrics of its host "
                                     "(for hosts that run no web process); 0 = off.")
    worker_metrics_address: str = Field("127.0.0.1", description="Address the worker's metrics server binds.")
    metrics_token: str = Field("", description="Bearer token `/metrics` requires; empty = open (restrict it "
                               "at the proxy then).")
    access_log: bool = Field(True, description="Log one JSON line per HTTP request (method, route template, "
                             "status, duration, request and user id); SSE streams and WebSockets when they close.")
    sentry_dsn: str = Field("", description="Report unhandled errors of web and worker to Sentry; empty = off.")
    sentry_release: str = Field("", description="Release reported to Sentry; empty = the API version.")
    sentry_environment: str = Field("", description="Environment reported to Sentry; empty = `ENVIRONMENT`.")
    sentry_traces_sample_rate: float = Field(0.0, description="Share of requests and tasks traced in Sentry "
                                             "(0 to 1).")

    @field_validator("provider_limits")
    @classmethod
    def _parse_provider_limits(cls, value: str) -> str:
        parse_provider_limits(value)  # a typo fails at start-up, not in the first job
        return value

    # --- plugins ---
    plugins: str = Field("", description="Comma-separated plugin classes to enable, as `module:Class` import paths.")
    plugin_entry_points: bool = Field(True, description="Also enable the plugins installed packages declare under "
                                      "the `chat_studio.plugins` entry point group.")
    plugin_timeout: float = Field(30.0, description="Seconds one plugin hook call may run before it is stopped "
                                  "and counted as failed.")

    @model_validator(mode="after")
    def _refuse_weak_production_secrets(self) -> "Settings":
        if self.encryption_key:
            check_fernet_keys(self.encryption_key)
        if self.environment == "production":
            if self.jwt_secret_key == DEV_JWT_SECRET or len(self.jwt_secret_key) < 32:
                raise ValueError("JWT_SECRET_KEY must be set to a secret of at least 32 characters in production")
            if not self.encryption_key:
                raise ValueError(
                    "ENCRYPTION_KEY must be set in production (generate one with `python -c 'from "
                    "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)")
            if self.flower_basic_auth == "admin:admin":
                raise ValueError("FLOWER_BASIC_AUTH must not be the default in production")
            if not self.allowed_origins or "*" in self.allowed_origins:
                raise ValueError("WS_ALLOWED_ORIGINS must list the allowed Origins in production (not empty, not `*`)")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip() for o in self.ws_allowed_origins.split(",") if o.strip()]

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_allowed_origins.split(",") if o.strip()]


def parse_provider_limits(spec: str) -> dict[str, dict[str, int]]:
    """`openai=concurrency:50,rpm:500;anthropic=concurrency:20` → {provider: {concurrency, rpm}}."""
    budgets: dict[str, dict[str, int]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, sep, rest = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"PROVIDER_LIMITS: expected `provider=concurrency:N,rpm:N`, got {part!r}")
        values = {"concurrency": 0, "rpm": 0}
        for item in filter(None, (i.strip() for i in rest.split(","))):
            key, _, number = item.partition(":")
            if key.strip() not in values or not number.strip().isdigit():
                raise ValueError(f"PROVIDER_LIMITS: unknown or non-numeric setting {item!r} for {name.strip()}")
            values[key.strip()] = int(number)
        budgets[name.strip()] = values
    return budgets


def check_fernet_keys(value: str) -> None:
    """Refuse a key list with anything that is not a Fernet key (32 url-safe base64 bytes)."""
    import base64
    import binascii

    for i, key in enumerate(k.strip() for k in value.split(",")):
        try:
            ok = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"ENCRYPTION_KEY entry {i + 1} is not a Fernet key (32 url-safe base64-encoded bytes)")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (never at import time)."""
    return Settings()
