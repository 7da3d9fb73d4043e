"""az-router's hooks: ``az_route`` and the ``az route`` commands.

Imports nothing heavy: the engine is built on the first routed call, from
the ``[router]`` config section, and rebuilt when config.toml changes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import typer
    from az_os.models import Model
    from az_os.types import ModelRequest, Task

    from az_router.engine import RoutingEngine

_engine: RoutingEngine | None = None
_engine_key: tuple[Any, ...] | None = None
_lock = threading.Lock()


def _config_key() -> tuple[Any, ...]:
    from az_os.config import config_path

    path = config_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = None
    return (str(path), mtime)


def get_engine() -> RoutingEngine:
    """The process's :class:`~az_router.engine.RoutingEngine`, built from
    config (rebuilt when config.toml changes; rules replaced with
    ``update_routing_rules`` last until then). Raises RuleError (a
    ConfigError) for an invalid ``[router]`` section."""
    global _engine, _engine_key
    key = _config_key()
    with _lock:
        if _engine is None or key != _engine_key:
            from az_os.config import load_config

            from az_router.engine import RoutingEngine

            _engine = RoutingEngine.from_config(load_config())
            _engine_key = key
        return _engine


def reset_engine() -> None:
    """Forget the engine (tests, after changing AZ_HOME)."""
    global _engine, _engine_key
    with _lock:
        _engine, _engine_key = None, None


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


@hookimpl
def az_register_commands(app: typer.Typer) -> None:
    """Add ``az route explain`` and ``az route rules``."""
    from az_router.cli import route_app

    app.add_typer(route_app, name="route")
