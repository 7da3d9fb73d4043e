"""The ``[litellm]`` config section.

Example ``config.toml``::

    [litellm]
    retries = 4            # retries after the first attempt (0 = never retry)
    retry_base_s = 1.0     # first backoff delay; then 2x each retry ...
    retry_cap_s = 60.0     # ... never more than this (also caps Retry-After)
    timeout_s = 120.0      # per HTTP request
    catalogue = true       # register the built-in catalogue of hosted models
    prompt_caching = true  # mark Claude prompts for Anthropic's prompt cache
    # ollama_api_base = "http://localhost:11434"

Every key can be overridden with ``AZ_LITELLM__<KEY>`` (e.g.
``AZ_LITELLM__RETRIES=0``).
"""

from __future__ import annotations

from typing import Annotated

from az_os.config import parse_section
from az_os.types import Record
from msgspec import Meta


class LiteLLMSettings(Record, kw_only=True):
    """Settings of the az-litellm plugin (``[litellm]``)."""

    #: retries after a failed attempt (rate limit, network, 5xx)
    retries: Annotated[int, Meta(ge=0, le=20)] = 4
    #: first retry delay in seconds; doubles each retry
    retry_base_s: Annotated[float, Meta(ge=0)] = 1.0
    #: longest retry delay in seconds (caps Retry-After too)
    retry_cap_s: Annotated[float, Meta(ge=0)] = 60.0
    #: timeout of one HTTP request in seconds
    timeout_s: Annotated[float, Meta(gt=0)] = 120.0
    #: register the built-in catalogue of hosted models
    catalogue: bool = True
    #: ask LiteLLM to mark the system prompt and the newest message as cache
    #: breakpoints on Claude models (Anthropic, Bedrock, Vertex AI, Azure AI),
    #: whose prompt cache needs explicit marks; other providers cache on
    #: their own or not at all, and get nothing extra
    prompt_caching: bool = True
    #: Ollama server URL (default $OLLAMA_API_BASE or http://localhost:11434)
    ollama_api_base: str | None = None


def parse_settings(section: dict | None, source: str = "config.toml") -> LiteLLMSettings:
    """Validate a ``[litellm]`` section; raise :class:`~az_os.errors.ConfigError`
    naming ``source``, the key and what was expected."""
    return parse_section(LiteLLMSettings, "litellm", section, source)
