"""az-mcp's hooks: bridged tools, the ``az mcp`` commands, a health check.

Imports nothing heavy: the ``mcp`` SDK is loaded only when a server is
started or served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from az_os import hookimpl

log = logging.getLogger("az.mcp")


@hookimpl
def az_register_tools(register: Callable[..., None]) -> None:
    """Register ``NAME.TOOL`` for every tool of every enabled ``[mcp.servers.NAME]``.

    Tool lists come from ``<az home>/mcp/tools.json``; servers missing from
    it are started once to list their tools (see :mod:`az_mcp.bridge`).
    """
    from az_os.config import load_config

    from az_mcp.bridge import bridged_tools

    for tool in bridged_tools(load_config()):
        register(tool)


@hookimpl
def az_health_checks(register: Callable[..., None]) -> None:
    """``mcp``: configured servers whose last listing failed (from the cache,
    without starting anything)."""

    def check() -> Any:
        from az_os.config import load_config
        from az_os.types import HealthResult

        from az_mcp.bridge import read_cache
        from az_mcp.settings import load_settings

        config = load_config()
        servers = {n: c for n, c in load_settings(config).servers.items() if c.enabled}
        cache = read_cache(config.home)
        broken = {n: (cache.get(n) or {}).get("error") for n in servers}
        broken = {n: e for n, e in broken.items() if e}
        data = {"servers": len(servers), "failing": sorted(broken)}
        if not broken:
            return HealthResult(
                name="mcp", status="ok", detail=f"{len(servers)} server(s)", data=data
            )
        detail = "; ".join(f"{n}: {e}" for n, e in sorted(broken.items()))
        return HealthResult(name="mcp", status="degraded", detail=detail[:300], data=data)

    register("mcp", check)
