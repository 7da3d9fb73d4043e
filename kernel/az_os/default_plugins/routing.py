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
    """Among ``candidates`` only: the model the task names, else the default
    model, else the first (cheapest) candidate. A model that is not a
    candidate (it failed earlier in the task, or cannot take this request)
    is never returned."""
    from az_os.config import load_config
    from az_os.plugins import get_host

    if not candidates:
        return None
    by_id = {m.info.id: m for m in candidates}
    host = get_host()
    try:
        wanted = host.find_model(task.model) if task.model else host.default_model(load_config())
    except Exception:  # noqa: BLE001 - no default: take the cheapest candidate
        return candidates[0]
    return by_id.get(wanted.info.id, candidates[0])
