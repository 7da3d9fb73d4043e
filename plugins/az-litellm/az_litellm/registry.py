"""Build the models az-litellm registers: ``[[models.custom]]`` first, then the catalogue.

Custom models are registered first so that a custom entry with a catalogue
id (for example to override its prices) wins: the plugin host keeps the
first registration of an id.
"""

from __future__ import annotations

import logging
from datetime import date

from az_os.config import AzConfig, CustomModel
from az_os.types import ModelInfo

from az_litellm import catalog
from az_litellm.model import LiteLLMModel
from az_litellm.settings import LiteLLMSettings, parse_settings

log = logging.getLogger("az.litellm")


def settings_of(config: AzConfig) -> LiteLLMSettings:
    """The validated ``[litellm]`` section of ``config``."""
    return parse_settings(config.section("litellm"), str(config.path))


def _provider(model_id: str) -> str:
    return model_id.split("/", 1)[0] if "/" in model_id else "openai"


def catalogue_models(
    settings: LiteLLMSettings, on: date | None = None
) -> list[tuple[LiteLLMModel, list[str]]]:
    """The built-in catalogue as ``(model, aliases)`` pairs.

    Only ids the installed LiteLLM's price map knows, and whose
    ``deprecation_date`` lies after ``on`` (default: today, UTC), are kept.
    Prices (USD per token), context window and tool support come from the
    map entry. The first registered id of each provider's ``recommended``
    list gets the provider's ``default_priority``.
    """
    out: list[tuple[LiteLLMModel, list[str]]] = []
    source, entries = catalog.catalogue_entries()
    for prov in catalog.CATALOGUE:
        kept: dict[str, dict] = {}
        for mid in prov.models:
            entry = entries.get(mid)
            if entry is None or catalog.is_deprecated(entry, on):
                continue
            kept[mid] = entry
        recommended = next((m for m in prov.recommended if m in kept), None)
        alias_of: dict[str, list[str]] = {}
        for alias, prefs in prov.aliases.items():
            target = next((m for m in prefs if m in kept), None)
            if target:
                alias_of.setdefault(target, []).append(alias)
        for mid, entry in kept.items():
            info = ModelInfo(
                id=mid,
                provider=prov.provider,
                context_window=catalog.context_window(entry),
                max_output_tokens=entry.get("max_output_tokens") or None,
                **catalog.price_fields(entry),
                price_source=source,
                supports_tools=bool(entry.get("supports_function_calling")),
                supports_streaming=True,
                default_priority=prov.priority if mid == recommended else 0,
                aliases=alias_of.get(mid, []),
            )
            if prov.provider == "ollama":
                name = mid.split("/", 1)[1]
                model = LiteLLMModel(
                    info,
                    settings,
                    call_model=f"ollama_chat/{name}",
                    api_base=catalog.ollama_api_base(settings.ollama_api_base),
                    cost_model=None,
                    ollama_name=name,
                )
            else:
                model = LiteLLMModel(
                    info, settings, key_names=catalog.key_names(prov.provider), cost_model=mid
                )
            out.append((model, list(info.aliases)))
    return out


def custom_model(custom: CustomModel, settings: LiteLLMSettings) -> LiteLLMModel:
    """A ``[[models.custom]]`` entry as a model.

    * ``id`` is LiteLLM style; a bare name with ``api_base`` is called as
      ``openai/<name>`` (any OpenAI-compatible server).
    * Prices: ``input_cost_per_token``/``output_cost_per_token`` from the entry
      (``price_source="config"``) win; else the LiteLLM map's entry for the id;
      else 0 USD (``price_source`` says they are unknown).
    * Key: ``api_key_env`` names the variable; without it, a custom
      ``api_base`` needs no key (a placeholder is sent, never another
      provider's key), and a known provider uses its usual variable.
    * ``supports_tools``: the entry's value, else the map's, else true for
      ``api_base`` servers (most OpenAI-compatible servers accept ``tools``).
    """
    provider = _provider(custom.id)
    call_model = custom.id if "/" in custom.id else f"openai/{custom.id}"
    entry = catalog.lookup(call_model)
    overrides = custom.input_cost_per_token is not None or custom.output_cost_per_token is not None
    if overrides:
        in_cost = custom.input_cost_per_token or 0.0
        out_cost = custom.output_cost_per_token or 0.0
        source = "config"
        cache_cost = None
    elif entry is not None:
        in_cost = float(entry.get("input_cost_per_token") or 0.0)
        out_cost = float(entry.get("output_cost_per_token") or 0.0)
        cache_cost = entry.get("cache_read_input_token_cost")
        source = catalog.price_source()
    else:
        in_cost = out_cost = 0.0
        cache_cost = None
        source = "unknown: set input_cost_per_token/output_cost_per_token in [[models.custom]]"
    if custom.supports_tools is not None:
        tools = custom.supports_tools
    elif entry is not None and entry.get("supports_function_calling") is not None:
        tools = bool(entry.get("supports_function_calling"))
    else:
        tools = custom.api_base is not None or provider in ("ollama", "ollama_chat")
    info = ModelInfo(
        id=custom.id,
        provider=provider,
        context_window=custom.context_window or (catalog.context_window(entry) if entry else 8192),
        max_output_tokens=(entry or {}).get("max_output_tokens") or None,
        input_cost_per_token=in_cost,
        output_cost_per_token=out_cost,
        cache_read_cost_per_token=cache_cost,
        price_source=source,
        supports_tools=tools,
        aliases=[custom.alias] if custom.alias else [],
        default_priority=0,
    )
    ollama_name = None
    api_base = custom.api_base
    if provider in ("ollama", "ollama_chat"):
        ollama_name = custom.id.split("/", 1)[1]
        call_model = f"ollama_chat/{ollama_name}"
        api_base = (api_base or catalog.ollama_api_base(settings.ollama_api_base)).rstrip("/")
    if custom.api_key_env:
        key_names: tuple[str, ...] = (custom.api_key_env,)
        placeholder = False
    elif api_base is not None:
        key_names, placeholder = (), True
    else:
        key_names, placeholder = catalog.key_names(provider), False
    return LiteLLMModel(
        info,
        settings,
        call_model=call_model,
        api_base=api_base,
        key_names=key_names,
        send_placeholder_key=placeholder,
        cost_model=None if overrides or entry is None else call_model,
        ollama_name=ollama_name,
    )


def build_models(config: AzConfig) -> list[tuple[LiteLLMModel, list[str]]]:
    """Every model this plugin registers, custom ones first."""
    settings = settings_of(config)
    out: list[tuple[LiteLLMModel, list[str]]] = []
    for custom in config.models.custom:
        try:
            out.append((custom_model(custom, settings), []))
        except Exception as exc:  # noqa: BLE001 - one bad entry must not hide the rest
            log.warning("[[models.custom]] %s skipped: %s", custom.id, exc)
    if settings.catalogue:
        out.extend(catalogue_models(settings))
    return out
