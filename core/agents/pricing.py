"""Whether a model has a price: pydantic-ai prices each response from genai-prices' table, and a
model the table does not know costs None, which a daily cost budget would count as free.

The offline `test` provider is free (it calls nothing)."""

from __future__ import annotations

from functools import lru_cache

from core.definition import ModelRef, ModelSpec

# the price table's providers for each of ours (Claude on Vertex is listed under both)
_PRICED_AS: dict[str, tuple[str, ...]] = {
    "google-vertex": ("google",),
    "anthropic-vertex": ("anthropic", "google"),
}


def unpriced_models(spec: ModelSpec) -> list[str]:
    """The models of `spec` (its fallbacks included) the price table does not know."""
    return [f"{ref.provider}:{ref.name}" for ref in (spec, *spec.fallback) if not _is_priced(ref)]


def _is_priced(ref: ModelRef) -> bool:
    return ref.provider == "test" or _known(ref.provider, ref.name)


@lru_cache(maxsize=256)
def _known(provider: str, name: str) -> bool:
    from genai_prices.data_snapshot import get_snapshot

    table = get_snapshot()
    for provider_id in _PRICED_AS.get(provider, ()):
        try:
            table.find_provider_model(
                name, provider=None, provider_id=provider_id, provider_api_url=None
            )
        except LookupError:
            continue
        return True
    return False
