"""The kernel's fallback router: the configured default model.

Registered ``trylast``, so any routing plugin (``az-router``) decides first;
this one answers only when none did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.models import Model
    from az_os.types import ModelRequest, Task


@hookimpl(trylast=True)
def az_route(task: Task, request: ModelRequest, candidates: list[Model]) -> Model | None:
    """The task's model if it names one, else the default model, else the
    first candidate."""
    from az_os.config import load_config
    from az_os.plugins import get_host

    host = get_host()
    if task.model:
        return host.find_model(task.model)
    try:
        return host.default_model(load_config())
    except Exception:  # noqa: BLE001 - fall back to what the engine offered
        return candidates[0] if candidates else None
