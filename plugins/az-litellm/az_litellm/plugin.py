"""az-litellm's hooks: every hosted provider's models through LiteLLM.

Importing this module is cheap (no litellm, no price map): the catalogue is
built only when something asks for the model list (``az_register_models``),
and litellm itself is imported only when a model is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from az_os import hookimpl


@hookimpl
def az_register_models(register: Callable[..., Any]) -> None:
    """Register ``[[models.custom]]`` entries, then the built-in catalogue
    (Anthropic, OpenAI, Gemini, DeepSeek, Mistral, Ollama) with prices and
    context windows from LiteLLM's bundled price map. The config
    (``[[models.custom]]``, ``[litellm]``) is read from ``config.toml`` and
    ``AZ_*`` variables at this moment."""
    from az_os.config import load_config

    from az_litellm.registry import build_models

    for model, aliases in build_models(load_config()):
        register(model, aliases=aliases)
