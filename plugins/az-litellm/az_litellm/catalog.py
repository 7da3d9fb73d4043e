"""The built-in catalogue and LiteLLM's bundled price map, read without importing litellm.

Prices and context windows come from the JSON file LiteLLM ships inside its
wheel (``litellm/model_prices_and_context_window_backup.json``): the same
data ``litellm.model_cost`` holds when ``LITELLM_LOCAL_MODEL_COST_MAP=True``,
the setting az always uses so nothing is fetched from the network. The file
is found with :func:`importlib.util.find_spec` (which does not run litellm's
``__init__``) and parsed with :mod:`json` (about 4,000 entries, ~30 ms), once
per process and only when the model list is asked for.

The catalogue itself (:data:`CATALOGUE`) is our choice of current models per
provider; an entry is registered only when the installed LiteLLM's map knows
it and its ``deprecation_date`` (if any) is still in the future, so a newer or
older LiteLLM never yields a model without a price.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from az_os.util import write_json

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"

#: Environment variables that hold each provider's API key, in lookup order
#: (the names LiteLLM itself reads). Providers not listed need no key (ollama)
#: or are looked up by LiteLLM from its own environment variables.
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"),
    "cohere": ("COHERE_API_KEY",),
    "perplexity": ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
}

#: Providers that run on the user's own machine and need no key.
KEYLESS_PROVIDERS = frozenset({"ollama", "ollama_chat"})


@dataclass(frozen=True)
class ProviderCatalogue:
    """One provider's models in the catalogue.

    ``models`` are LiteLLM-style ids in display order. ``recommended`` lists
    ids in order of preference: the first one that is registered gets
    ``priority`` as its :attr:`~az_os.types.ModelInfo.default_priority`, so a
    user with only this provider's key gets it as the default model.
    ``aliases`` maps a short name to ids in order of preference; the first
    registered id gets the alias.
    """

    provider: str
    priority: int
    models: tuple[str, ...]
    recommended: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)


#: The built-in catalogue. Priorities order providers when several keys are
#: set (highest wins); the embedded model (az-local) has priority 0, so any
#: usable hosted model is preferred over it.
CATALOGUE: tuple[ProviderCatalogue, ...] = (
    ProviderCatalogue(
        provider="anthropic",
        priority=60,
        models=(
            "anthropic/claude-opus-5-5",
            "anthropic/claude-sonnet-5-5",
            "anthropic/claude-haiku-5-5",
            "anthropic/claude-opus-4-8",
            "anthropic/claude-sonnet-4-6",
            "anthropic/claude-sonnet-4-5",
            "anthropic/claude-opus-4-5",
            "anthropic/claude-haiku-4-5",
        ),
        recommended=(
            "anthropic/claude-sonnet-5-5",
            "anthropic/claude-sonnet-4-6",
            "anthropic/claude-sonnet-4-5",
        ),
        aliases={
            "sonnet": (
                "anthropic/claude-sonnet-5-5",
                "anthropic/claude-sonnet-4-6",
                "anthropic/claude-sonnet-4-5",
            ),
            "opus": (
                "anthropic/claude-opus-5-5",
                "anthropic/claude-opus-4-8",
                "anthropic/claude-opus-4-5",
            ),
            "haiku": ("anthropic/claude-haiku-5-5", "anthropic/claude-haiku-4-5"),
        },
    ),
    ProviderCatalogue(
        provider="openai",
        priority=55,
        models=(
            "openai/gpt-6-sol",
            "openai/gpt-6-luna",
            "openai/gpt-5.4",
            "openai/gpt-5.4-mini",
            "openai/gpt-5",
            "openai/gpt-5-mini",
            "openai/gpt-5-nano",
            "openai/gpt-4.1",
            "openai/gpt-4.1-mini",
            "openai/gpt-4o-mini",
            "openai/o3",
        ),
        recommended=("openai/gpt-6-sol", "openai/gpt-5.4", "openai/gpt-5", "openai/gpt-4.1"),
    ),
    ProviderCatalogue(
        provider="gemini",
        priority=50,
        models=(
            "gemini/gemini-pro-latest",
            "gemini/gemini-flash-latest",
            "gemini/gemini-flash-lite-latest",
            "gemini/gemini-2.5-pro",
            "gemini/gemini-2.5-flash",
            "gemini/gemini-2.5-flash-lite",
        ),
        recommended=("gemini/gemini-flash-latest", "gemini/gemini-2.5-flash"),
        aliases={"flash": ("gemini/gemini-flash-latest", "gemini/gemini-2.5-flash")},
    ),
    ProviderCatalogue(
        provider="deepseek",
        priority=40,
        models=(
            "deepseek/deepseek-v4-pro",
            "deepseek/deepseek-v4-flash",
            "deepseek/deepseek-chat",
            "deepseek/deepseek-reasoner",
        ),
        recommended=("deepseek/deepseek-v4-flash", "deepseek/deepseek-chat"),
        aliases={"deepseek": ("deepseek/deepseek-v4-flash", "deepseek/deepseek-chat")},
    ),
    ProviderCatalogue(
        provider="mistral",
        priority=30,
        models=(
            "mistral/mistral-large-latest",
            "mistral/mistral-medium-latest",
            "mistral/mistral-small-latest",
            "mistral/codestral-latest",
            "mistral/devstral-medium-latest",
        ),
        recommended=("mistral/mistral-large-latest", "mistral/mistral-medium-latest"),
        aliases={"mistral": ("mistral/mistral-large-latest", "mistral/mistral-medium-latest")},
    ),
    ProviderCatalogue(
        provider="ollama",
        priority=10,
        models=("ollama/llama3.1", "ollama/llama3"),
        recommended=("ollama/llama3.1", "ollama/llama3"),
    ),
)


def litellm_dir() -> Path | None:
    """The installed ``litellm`` package directory, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def litellm_version() -> str:
    """The installed LiteLLM's version ("unknown" when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def price_map() -> dict[str, dict[str, Any]]:
    """LiteLLM's bundled price map: model name → entry (``input_cost_per_token``
    and ``output_cost_per_token`` in USD per token, ``max_input_tokens`` in
    tokens, ``litellm_provider``, ``supports_function_calling``, ...).

    Returns ``{}`` when LiteLLM or its file is missing. Never touches the
    network.
    """
    base = litellm_dir()
    if base is None:
        return {}
    try:
        data = json.loads((base / PRICE_MAP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    data.pop("sample_spec", None)
    return {k: v for k, v in data.items() if isinstance(v, dict)}


CACHE_FILE = "litellm-catalogue.json"


def catalogue_entries(cache_dir: Path | None = None) -> tuple[str, dict[str, dict[str, Any]]]:
    """``(price source, entries)``: :func:`price_source` and :func:`lookup`
    of every :data:`CATALOGUE` id that the price map knows.

    LiteLLM's price map is about 3 MB of JSON, 15-20 ms to parse on every
    command that lists models (``az ask``, ``az task run``). The few entries
    the catalogue needs are kept in ``<cache_dir>/litellm-catalogue.json``
    (default: ``<az home>/cache``), keyed by the map file's path, size and
    modification time and by the catalogue's ids, so upgrading LiteLLM or
    az-litellm rebuilds it. A cache that cannot be read or written is
    skipped, never an error.
    """
    ids = sorted({mid for prov in CATALOGUE for mid in prov.models})
    base = litellm_dir()
    if base is None:
        return price_source(), {}
    try:
        st = (base / PRICE_MAP_FILE).stat()
    except OSError:
        return price_source(), {}
    key = f"{base / PRICE_MAP_FILE}:{st.st_size}:{st.st_mtime_ns}:{','.join(ids)}"
    if cache_dir is None:
        from az_os.config import az_home

        cache_dir = az_home() / "cache"
    path = cache_dir / CACHE_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("key") == key and isinstance(cached.get("entries"), dict):
            return str(cached["source"]), dict(cached["entries"])
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    source = price_source()
    entries = {mid: entry for mid in ids if (entry := lookup(mid)) is not None}
    try:
        write_json(path, {"key": key, "source": source, "entries": entries})
    except OSError:
        pass
    return source, entries


def price_source() -> str:
    """What ``ModelInfo.price_source`` says for prices read from the map."""
    return f"litellm {litellm_version()} {PRICE_MAP_FILE}"


def lookup(model_id: str) -> dict[str, Any] | None:
    """The price-map entry of a LiteLLM-style id, or ``None``.

    The map keys some providers with their prefix (``gemini/gemini-2.5-flash``)
    and others without (``claude-sonnet-4-5``); both spellings are tried, and a
    bare name only matches when its entry belongs to the same provider.
    """
    pm = price_map()
    entry = pm.get(model_id)
    if entry is not None:
        return entry
    if "/" in model_id:
        provider, name = model_id.split("/", 1)
        entry = pm.get(name)
        if entry is not None and entry.get("litellm_provider") in (provider, f"{provider}_chat"):
            return entry
    return None


def today() -> date:
    """Today's date in UTC (the reference for ``deprecation_date``)."""
    return datetime.now(UTC).date()


def is_deprecated(entry: dict[str, Any], on: date | None = None) -> bool:
    """True when the entry's ``deprecation_date`` (YYYY-MM-DD) is today or earlier."""
    raw = entry.get("deprecation_date")
    if not raw:
        return False
    try:
        when = date.fromisoformat(str(raw)[:10])
    except ValueError:
        return False
    return when <= (on or today())


def context_window(entry: dict[str, Any], default: int = 8192) -> int:
    """Context window in tokens: ``max_input_tokens``, else ``max_tokens``."""
    for key in ("max_input_tokens", "max_tokens"):
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return default


def price_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~az_os.types.ModelInfo` price fields of a price-map entry
    (USD per token): input, output, cache read, cache write
    (``cache_creation_input_token_cost``) and, for tiered models such as
    Gemini 2.5 Pro, the ``*_above_<N>k_tokens`` prices with their threshold
    (N × 1,000 prompt tokens), as LiteLLM's ``cost_per_token`` applies them."""

    def num(key: str) -> float | None:
        value = entry.get(key)
        return float(value) if isinstance(value, int | float) else None

    fields: dict[str, Any] = {
        "input_cost_per_token": num("input_cost_per_token") or 0.0,
        "output_cost_per_token": num("output_cost_per_token") or 0.0,
        "cache_read_cost_per_token": num("cache_read_input_token_cost"),
        "cache_write_cost_per_token": num("cache_creation_input_token_cost"),
    }
    import re

    tiers = sorted(
        int(m.group(1))
        for k in entry
        if (m := re.fullmatch(r"input_cost_per_token_above_(\d+)k_tokens", k))
    )
    if tiers:
        n = tiers[0]
        fields["tier_threshold_tokens"] = n * 1000
        fields["input_cost_per_token_above_tier"] = num(f"input_cost_per_token_above_{n}k_tokens")
        fields["output_cost_per_token_above_tier"] = num(f"output_cost_per_token_above_{n}k_tokens")
        fields["cache_read_cost_per_token_above_tier"] = num(
            f"cache_read_input_token_cost_above_{n}k_tokens"
        )
    return fields


def key_names(provider: str) -> tuple[str, ...]:
    """The environment variables that hold ``provider``'s key (may be empty)."""
    return PROVIDER_KEYS.get(provider, ())


def ollama_api_base(configured: str | None = None) -> str:
    """Where the Ollama server listens: config ``litellm.ollama_api_base``,
    else ``$OLLAMA_API_BASE``, else ``http://localhost:11434`` (Ollama's default)."""
    return (configured or os.environ.get("OLLAMA_API_BASE") or "http://localhost:11434").rstrip("/")
