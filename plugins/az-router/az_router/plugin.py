"""az-router's hooks: ``az_route`` and the ``az route`` commands.

Imports nothing heavy: the engine is built on the first routed call, from
the ``[router]`` config section, and rebuilt when the config changes
(:mod:`az_router.current`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from az_os import hookimpl

from az_router.current import get_engine, reset_engine

if TYPE_CHECKING:  # pragma: no cover
    from az_os.models import Model
    from az_os.types import ModelRequest, Task

__all__ = ["az_route", "get_engine", "reset_engine"]


@hookimpl
def az_route(task: Task, request: ModelRequest, candidates: list[Model]) -> Model | None:
    """Pick the model by rules, tiers, cascade and scores (see
    :mod:`az_router.engine`). Leaves user-fixed models (``task.model``) and
    calls with no eligible candidate to the kernel's fallback (returns
    None). The decision's summary is put on ``request.metadata["route"]``."""
    if task.model or not candidates:
        return None
    decision = get_engine().decide(task, request, candidates)
    request.metadata["route"] = decision.summary()
    return decision.model
