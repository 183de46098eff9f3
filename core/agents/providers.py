"""Model providers: Gemini and Claude on Vertex AI, and the offline `test` provider.

A provider's SDK is imported only when a model of that provider is built (anthropic alone costs
~1.2 s of import); clients are created once per process and reused. google-cloud-aiplatform is
never needed: google-genai and anthropic's Vertex client call the models directly.

Clients hold async HTTP pools bound to the event loop that first used them; each thread runs
its agents on its own loop (`core.agents.loop`) and so keeps its own clients. Tests against a
fake server pass their own `credentials`/`http_client` and get fresh clients.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.definition import ModelRef, ModelSettingsSpec, ModelSpec, Provider

if TYPE_CHECKING:
    from pydantic_ai.models import Model
    from pydantic_ai.settings import ModelSettings

# Claude needs max_tokens; the model's maximum makes every call stream, so default lower
ANTHROPIC_DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True)
class ProviderInfo:
    name: Provider
    description: str
    models: tuple[str, ...]
    native_web_search: bool
    unsupported_settings: tuple[str, ...] = ()


PROVIDERS: dict[str, ProviderInfo] = {
    "google-vertex": ProviderInfo(
        "google-vertex",
        "Gemini on Vertex AI (google-genai)",
        ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3.1-flash-lite", "gemini-3.1-pro-preview"),
        native_web_search=True,
    ),
    "anthropic-vertex": ProviderInfo(
        "anthropic-vertex",
        "Claude on Vertex AI (anthropic's AsyncAnthropicVertex)",
        ("claude-sonnet-4-6", "claude-opus-4-6", "claude-haiku-4-5"),
        native_web_search=True,
        unsupported_settings=("seed",),
    ),
    "test": ProviderInfo(
        "test",
        "offline stand-ins: `test` (pydantic-ai TestModel) calls each offered tool once, then "
        "answers; `test-echo` streams the person's message back",
        ("test", "test-echo"),
        native_web_search=False,
    ),
}


# a provider's SDK, imported the first time one of its models is built (core.warmup: once, under
# the process's import lock, never by two threads at once)
PROVIDER_SDKS: dict[str, tuple[str, ...]] = {
    "google-vertex": ("google.genai", "pydantic_ai.models.google"),
    "anthropic-vertex": ("anthropic", "pydantic_ai.models.anthropic"),
}


def default_model(settings: Settings) -> ModelSpec:
    """What a definition that names no model gets: DEFAULT_MODEL_PROVIDER's first model."""
    info = PROVIDERS[settings.default_model_provider]
    return ModelSpec(provider=info.name, name=info.models[0])


def is_configured(provider: str, settings: Settings) -> bool:
    if provider == "test":
        return True
    return bool(settings.vertex_project)


def provider_catalog(settings: Settings) -> list[dict[str, Any]]:
    return [
        {
            "name": info.name,
            "description": info.description,
            "configured": is_configured(info.name, settings),
            "models": list(info.models),
            "native_web_search": info.native_web_search,
        }
        for info in PROVIDERS.values()
    ]


def model_settings(provider: str, spec: ModelSettingsSpec) -> ModelSettings:
    """The definition's settings in pydantic-ai's vocabulary, minus what the provider lacks."""
    values: dict[str, Any] = spec.model_dump(exclude_none=True)
    for name in PROVIDERS[provider].unsupported_settings:
        values.pop(name, None)
    if provider == "anthropic-vertex":
        values.setdefault("max_tokens", ANTHROPIC_DEFAULT_MAX_TOKENS)
    return values  # type: ignore[return-value]


class ProviderNotConfigured(Exception):
    """A definition names a provider this deployment cannot call."""


_local = threading.local()


def _shared(key: tuple[Any, ...], create: Any) -> Any:
    """One client per thread and configuration: each thread runs its agents on its own event
    loop (core.agents.loop), and an async client's connections belong to one loop."""
    clients: dict[tuple[Any, ...], Any] = _local.__dict__.setdefault("clients", {})
    if key not in clients:
        clients[key] = create()
    return clients[key]


def build_model(
    ref: ModelRef,
    settings_spec: ModelSettingsSpec,
    settings: Settings,
    *,
    credentials: Any = None,
    http_client: Any = None,
) -> Model:
    """One pydantic-ai model. `credentials`/`http_client` are for tests against a fake server;
    without them the process-wide client of that provider is reused."""
    if not is_configured(ref.provider, settings):
        raise ProviderNotConfigured(
            f"provider {ref.provider!r} is not configured here (set VERTEX_PROJECT)"
        )
    per_model = model_settings(ref.provider, settings_spec)
    if ref.provider == "test" and ref.name == "test-echo":
        from core.agents.echo import echo_model

        return echo_model(per_model)
    if ref.provider == "test":
        from pydantic_ai.models.test import TestModel

        return TestModel(settings=per_model)
    from core.warmup import load

    if ref.provider == "google-vertex":
        load(PROVIDER_SDKS["google-vertex"])
        from pydantic_ai.models.google import GoogleModel

        return GoogleModel(
            ref.name,
            provider=_google_provider(settings, credentials, http_client),
            settings=per_model,
        )
    load(PROVIDER_SDKS["anthropic-vertex"])
    from pydantic_ai.models.anthropic import AnthropicModel

    return AnthropicModel(
        ref.name,
        provider=_anthropic_provider(settings, credentials, http_client),
        settings=per_model,
    )


def build_run_model(spec: ModelSpec, settings: Settings, **client_overrides: Any) -> Model:
    """The definition's model, wrapped in a FallbackModel when fallbacks are listed. Fallbacks
    that are not configured here are skipped; the primary must be."""
    primary = build_model(spec, spec.settings, settings, **client_overrides)
    fallbacks = [
        build_model(ref, spec.settings, settings, **client_overrides)
        for ref in spec.fallback
        if is_configured(ref.provider, settings)
    ]
    if not fallbacks:
        return primary
    from pydantic_ai.models.fallback import FallbackModel

    return FallbackModel(primary, *fallbacks)


def google_cloud_provider(settings: Settings) -> Any:
    """The Google Cloud (Vertex AI) provider the agents' Gemini models use, shared."""
    return _google_provider(settings, None, None)


def _google_provider(settings: Settings, credentials: Any, http_client: Any) -> Any:
    from pydantic_ai.providers.google_cloud import GoogleCloudProvider

    def create() -> Any:
        return GoogleCloudProvider(
            project=settings.vertex_project,
            location=settings.vertex_location,
            base_url=settings.vertex_base_url,
            credentials=credentials,
            http_client=http_client,
        )

    if credentials is not None or http_client is not None:
        return create()
    key = ("google", settings.vertex_project, settings.vertex_location, settings.vertex_base_url)
    return _shared(key, create)


def _anthropic_provider(settings: Settings, credentials: Any, http_client: Any) -> Any:
    from anthropic import AsyncAnthropicVertex
    from pydantic_ai.providers.anthropic import AnthropicProvider

    def create() -> Any:
        client = AsyncAnthropicVertex(
            region=settings.anthropic_vertex_region,
            project_id=settings.vertex_project or "",
            base_url=settings.anthropic_vertex_base_url,
            credentials=credentials,
            http_client=http_client,
        )
        return AnthropicProvider(anthropic_client=client)

    if credentials is not None or http_client is not None:
        return create()
    key = (
        "anthropic",
        settings.vertex_project,
        settings.anthropic_vertex_region,
        settings.anthropic_vertex_base_url,
    )
    return _shared(key, create)
