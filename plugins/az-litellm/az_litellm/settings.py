"""The ``[litellm]`` config section.

Example ``config.toml``::

    [litellm]
    retries = 4            # retries after the first attempt (0 = never retry)
    retry_base_s = 1.0     # first backoff delay; then 2x each retry ...
    retry_cap_s = 60.0     # ... never more than this (also caps Retry-After)
    timeout_s = 120.0      # per HTTP request
    catalogue = true       # register the built-in catalogue of hosted models
    # ollama_api_base = "http://localhost:11434"

Every key can be overridden with ``AZ_LITELLM__<KEY>`` (e.g.
``AZ_LITELLM__RETRIES=0``).
"""

from __future__ import annotations

from az_os.errors import ConfigError
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class LiteLLMSettings(BaseModel):
    """Settings of the az-litellm plugin (``[litellm]``)."""

    model_config = ConfigDict(extra="forbid")

    retries: int = Field(
        4, ge=0, le=20, description="retries after a failed attempt (rate limit, network, 5xx)"
    )
    retry_base_s: float = Field(
        1.0, ge=0, description="first retry delay in seconds; doubles each retry"
    )
    retry_cap_s: float = Field(
        60.0, ge=0, description="longest retry delay in seconds (caps Retry-After too)"
    )
    timeout_s: float = Field(120.0, gt=0, description="timeout of one HTTP request in seconds")
    catalogue: bool = Field(True, description="register the built-in catalogue of hosted models")
    ollama_api_base: str | None = Field(
        None, description="Ollama server URL (default $OLLAMA_API_BASE or http://localhost:11434)"
    )


def parse_settings(section: dict) -> LiteLLMSettings:
    """Validate a ``[litellm]`` section; raise :class:`ConfigError` naming the key."""
    try:
        return LiteLLMSettings.model_validate(section or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err.get("loc", ()))
        msg = (
            "unknown key"
            if err.get("type") == "extra_forbidden"
            else err.get("msg", "invalid value")
        )
        raise ConfigError(f"[litellm] key '{key}': {msg}") from None
