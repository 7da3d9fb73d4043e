"""The process's routing engine, built from config on first use and again
whenever the config changes (config.toml or an ``AZ_*`` variable: see
:class:`az_os.util.ConfigCache`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from az_os.util import ConfigCache

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

    from az_router.engine import RoutingEngine


def _build(config: AzConfig) -> RoutingEngine:
    from az_router.engine import RoutingEngine

    return RoutingEngine.from_config(config)


_engine: ConfigCache[RoutingEngine] = ConfigCache(_build)


def get_engine() -> RoutingEngine:
    """The process's :class:`~az_router.engine.RoutingEngine`, built from
    the ``[router]`` section (rebuilt when the config changes; rules
    replaced with ``update_routing_rules`` last until then). Raises
    RuleError (a ConfigError) for an invalid ``[router]`` section."""
    return _engine.get()


def reset_engine() -> None:
    """Forget the engine (tests, after changing AZ_HOME)."""
    _engine.clear()
