"""az-litellm's hooks: every hosted provider's models through LiteLLM.

Importing this module is cheap (no litellm, no price map): the catalogue is
built only when something asks for the model list (``az_register_models``),
and litellm itself is imported only when a model is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

_config: AzConfig | None = None


@hookimpl
def az_configure(config: AzConfig) -> None:
    """Remember the loaded configuration (``[models.custom]``, ``[litellm]``)."""
    global _config
    _config = config


@hookimpl
def az_register_models(register: Callable[..., Any]) -> None:
    """Register ``[[models.custom]]`` entries, then the built-in catalogue
    (Anthropic, OpenAI, Gemini, DeepSeek, Mistral, Ollama) with prices and
    context windows from LiteLLM's bundled price map."""
    from az_os.config import load_config

    from az_litellm.registry import build_models

    config = _config if _config is not None else load_config()
    for model, aliases in build_models(config):
        register(model, aliases=aliases)
