"""az-local's hooks: register the embedded model and a health check.

Imports nothing heavy: the model module is imported when models are first
asked for, and ``llama_cpp`` only when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from az_os import hookimpl


@hookimpl
def az_register_models(register: Callable[..., None]) -> None:
    """Register the bundled SmolLM2-135M-Instruct (``local/smollm2-135m-instruct``,
    aliases ``smollm2``/``local``) and the GGUF in ``models.local.path`` if set."""
    from az_local.model import models_from_config

    for model in models_from_config():
        register(model, aliases=tuple(model.info.aliases))


@hookimpl
def az_health_checks(register: Callable[..., None]) -> None:
    """``local-model``: ok when the embedded model's file and llama_cpp are
    there (``unhealthy`` otherwise, with the reason); does not load it."""

    def check() -> Any:
        from az_os.types import HealthResult

        from az_local.model import models_from_config

        models = models_from_config()
        bad = [(m.info.id, m.usable()[1]) for m in models if not m.usable()[0]]
        if not bad:
            return HealthResult(
                name="local-model",
                status="ok",
                detail=", ".join(f"{m.info.id} ({m.path})" for m in models),
            )
        return HealthResult(
            name="local-model",
            status="unhealthy",
            detail="; ".join(f"{mid}: {why}" for mid, why in bad),
        )

    register("local-model", check)
