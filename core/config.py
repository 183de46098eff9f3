"""The one typed settings object, read from environment variables on first use.

Built on plain pydantic rather than pydantic-settings: the latter adds ~0.1 s to every cold
start for features (dotenv files, nested sources) this service does not use.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from core.errors import ConfigError

MIN_SECRET_KEY_BYTES = 32
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


def _split(value: str) -> list[str]:
    return [item.strip().rstrip("/") for item in value.split(",") if item.strip()]


class Settings(BaseModel):
    """Every field is read from the upper-cased environment variable of the same name."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    app_env: Literal["local", "production"] = "local"
    service_version: str = "0.1.0"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path(".data")
    secret_key: SecretStr | None = None

    # database: DATABASE_URL, else Cloud SQL (INSTANCE_CONNECTION_NAME), else embedded pgserver
    database_url: str | None = None
    instance_connection_name: str | None = None
    db_name: str = "agents"
    db_user: str | None = None
    db_password: SecretStr | None = None
    db_iam_auth: bool = True
    db_ip_type: Literal["public", "private", "psc"] = "public"
    db_pool_size: int = Field(default=8, ge=1, le=50)
    db_max_overflow: int = Field(default=2, ge=0, le=50)
    db_pool_recycle_s: int = Field(default=1800, ge=30)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)

    # auth
    jwt_issuer: str = "agents-service"
    jwt_audience: str = "agents-api"
    access_token_ttl_s: int = Field(default=1800, ge=60, le=86_400)
    refresh_token_ttl_s: int = Field(default=14 * 86_400, ge=3600)
    login_max_failures: int = Field(default=10, ge=1)
    login_window_s: int = Field(default=900, ge=60)
    # Argon2id's cost (RFC 9106's low-memory profile by default): each hash or verification
    # holds this much memory while it runs, on as many request threads as log in at once
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65_536, ge=64, le=1_048_576)

    # http
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # a request whose body stops arriving for this long is answered 408
    request_body_timeout_s: float = Field(default=10.0, gt=0, le=300)

    # models on Vertex AI (a provider is "configured" when its project is known)
    vertex_project: str | None = None
    vertex_location: str = "global"
    anthropic_vertex_region: str = "us-east5"
    vertex_base_url: str | None = None  # override the Gemini endpoint (tests, private endpoints)
    anthropic_vertex_base_url: str | None = None
    default_model_provider: Literal["test", "google-vertex", "anthropic-vertex"] = "test"

    # agent tools and runs
    repo_root: Path | None = None  # read-only tree the file tools may also search
    workspace_dir: Path | None = None  # local workspaces; defaults to DATA_DIR/workspaces
    max_execution_timeout_s: int = Field(default=600, ge=1, le=3600)

    # asynchronous runs: Cloud Tasks when TASKS_QUEUE is set, else the in-process dispatcher
    tasks_queue: str | None = None  # projects/P/locations/L/queues/Q
    tasks_worker_url: str | None = None  # the tasks function's URL (also the OIDC audience)
    tasks_invoker_sa: str | None = None  # service account Cloud Tasks signs its OIDC token as
    tasks_emulator_host: str | None = None  # host:port of gcloud-tasks-emulator (tests)
    tasks_shared_secret: SecretStr | None = None  # local dispatcher; derived from SECRET_KEY
    execution_lease_s: int = Field(default=60, ge=5, le=3600)
    execution_max_attempts: int = Field(default=5, ge=1, le=100)
    # `make dev` sweeps in-process this often (production: Cloud Scheduler, every minute)
    sweep_interval_s: float = Field(default=15.0, gt=0, le=3600)
    workflow_max_parallel: int = Field(default=4, ge=1, le=32)  # parallel steps at once

    # artifacts: a GCS bucket when ARTIFACTS_BUCKET is set, else DATA_DIR/artifacts
    artifacts_bucket: str | None = None
    artifact_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # quotas per user (an admin may override them per user): queued or running runs at once, and
    # tokens and USD per UTC day (None: unlimited)
    user_max_concurrent_runs: int = Field(default=4, ge=1)
    user_daily_tokens: int | None = Field(default=None, ge=1)
    user_daily_cost_usd: Decimal | None = Field(default=None, gt=0)
    # requests per user per minute, whatever credential they carry (None: unlimited)
    rate_limit_per_minute: int | None = Field(default=600, ge=1)
    # open streams (streamed runs, followers) per user per process
    user_max_streams: int = Field(default=20, ge=1, le=10_000)
    # the files (artifacts) one message or execute input sends the model, together
    input_files_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    signed_url_ttl_s: int = Field(default=900, ge=60, le=900)
    # knowledge bases: one document's size, and what one user may store in all of theirs
    knowledge_document_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    knowledge_max_documents: int = Field(default=1000, ge=1)
    knowledge_max_bytes: int = Field(default=500 * 1024 * 1024, ge=1024)
    knowledge_max_chunks: int = Field(default=200_000, ge=1)
    signing_service_account: str | None = None  # signs URLs through IAM when no key is at hand

    # observability: OpenTelemetry traces and JSON logs
    trace_exporter: Literal["none", "console", "otlp", "gcp-trace"] = "none"
    otlp_endpoint: str = "https://telemetry.googleapis.com"  # Google's OTLP endpoint
    trace_include_content: bool = False  # prompts and outputs in spans
    trace_project: str | None = None  # for log/trace correlation; defaults to VERTEX_PROJECT
    log_format: Literal["json", "text"] = "json"  # the local server always logs text

    # webhooks
    webhook_allowed_hosts: str = ""  # comma-separated hosts exempt from the public-address rule
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)

    # credentials and MCP servers
    credentials_key: SecretStr | None = None  # base64 of 32 bytes; local: DATA_DIR/credentials_key
    # keys that sealed credentials before CREDENTIALS_KEY (comma-separated): they still open
    # them, and each value opened so is sealed again under the current key
    credentials_old_keys: SecretStr | None = None
    mcp_allowed_hosts: str = ""  # comma-separated hosts exempt from the public-address rule
    mcp_connect_timeout_s: float = Field(default=10.0, gt=0, le=60)
    mcp_call_timeout_s: float = Field(default=60.0, gt=0, le=600)
    mcp_tools_ttl_s: float = Field(default=300.0, ge=0, le=86_400)  # tool lists are cached
    # evals: cases of one eval run at once (each an async run), and how long an eval may go
    # undriven before the sweeper drives it again
    eval_concurrency: int = Field(default=8, ge=1, le=100)
    eval_stall_s: float = Field(default=60.0, ge=5, le=3600)
    eval_max_runs: int = Field(default=1000, ge=1, le=100_000)  # cases times repeat, per eval
    # remote A2A agents as tools (a definition's a2a_agents)
    a2a_allowed_hosts: str = ""  # comma-separated hosts exempt from the public-address rule
    a2a_connect_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # how long a call waits for the remote task to finish (the run's own timeout still bounds it)
    a2a_call_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    a2a_card_ttl_s: float = Field(default=300.0, ge=0, le=86_400)  # agent cards are cached
    approval_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400)

    # browsers: the origins (scheme://host[:port], comma-separated) allowed to call the API
    # cross-origin (CORS); empty: same origin only
    allowed_origins: str = ""

    @field_validator(
        "user_daily_tokens", "user_daily_cost_usd", "rate_limit_per_minute", mode="before"
    )
    @classmethod
    def _empty_is_unlimited(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _split(value):
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port], no path, no wildcard"
                )
        return ",".join(_split(value))

    @property
    def cors_origins(self) -> frozenset[str]:
        return frozenset(_split(self.allowed_origins))

    @property
    def is_local(self) -> bool:
        return self.app_env == "local"

    @property
    def workspaces_root(self) -> Path:
        return self.workspace_dir or self.data_dir / "workspaces"

    def signing_key(self) -> bytes:
        assert self.secret_key is not None, "resolve_secret_key ran in load_settings"
        return self.secret_key.get_secret_value().encode()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        values = {
            name: environ[name.upper()] for name in cls.model_fields if name.upper() in environ
        }
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid configuration: {problems}") from None
        return settings.model_copy(update={"secret_key": _resolve_secret_key(settings)})


def _resolve_secret_key(settings: Settings) -> SecretStr:
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(
                f"SECRET_KEY is too weak: it must be at least {MIN_SECRET_KEY_BYTES} bytes "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return settings.secret_key
    if not settings.is_local:
        raise ConfigError(
            "SECRET_KEY is not set: outside local mode (APP_ENV=production) the service refuses "
            f"to start without a key of at least {MIN_SECRET_KEY_BYTES} bytes"
        )
    return SecretStr(
        local_secret(settings.data_dir, "secret_key", lambda: secrets.token_urlsafe(48))
    )


def local_secret(data_dir: Path, name: str, generate: Callable[[], str]) -> str:
    """A secret generated once into the data directory (readable by its owner only), so local
    tokens and sealed values survive restarts; concurrent first calls agree on one value."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
