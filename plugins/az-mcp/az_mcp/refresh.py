"""``python -m az_mcp.refresh NAME...``: ask MCP servers for their tools and cache them.

Started detached by :func:`az_mcp.bridge.start_refresh` when a command that
registers tools finds servers missing from the tool cache: it waits for each
server up to its ``startup_timeout`` (side by side), writes what it learnt to
``<az home>/mcp/tools.json``, stops the servers and exits, whether or not
the command that started it is still running. Names not (or no longer)
configured are skipped.
"""

from __future__ import annotations

import sys


def main(names: list[str]) -> int:
    """Refresh the named enabled servers; the exit status (0, or 1 when the
    config cannot be read)."""
    from az_os.config import load_config
    from az_os.errors import AzError

    from az_mcp.bridge import discover
    from az_mcp.settings import load_settings

    try:
        config = load_config()
        servers = load_settings(config).servers
    except AzError:
        return 1
    wanted = {n: servers[n] for n in names if n in servers and servers[n].enabled}
    if wanted:
        discover(wanted, config.home, refresh=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process by start_refresh
    sys.exit(main(sys.argv[1:]))
