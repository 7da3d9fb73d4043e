"""MCP servers' tools as az tools, and the tool-list cache.

Registering tools (``az_register_tools``) must name every tool, but a
server has to run to say which tools it has. So each server's list is kept
in ``<az home>/mcp/tools.json`` under the server's name with the digest of
its command/args/env/cwd/url (:meth:`ServerConfig.key`): the first
registration starts the servers (side by side, each bounded by its
``timeout``), later ones read the file. Editing a server's command makes
its entry stale; ``az mcp tools --refresh`` asks again. A server that failed
to list is retried after :data:`RETRY_FAILED_S` seconds; until then its
error is shown by ``az mcp list`` and it lends no tools.

Cache file shape::

    {"version": 1, "servers": {"NAME": {"key": "…16 hex…",
        "listed_at": 1732170000.0,          # Unix time, seconds
        "tools": [{"name", "description", "inputSchema", "annotations",
                   "read_only"}, …],
        "error": null | "one line"}}}
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from az_os.tools import Tool, ToolContext
from az_os.types import ToolResult, ToolSpec

from az_mcp.client import (
    MCPClient,
    ServerStartError,
    get_client,
    leaf_exception,
    one_line,
    run_sync,
)
from az_mcp.settings import ServerConfig

CACHE_VERSION = 1

#: Seconds before a server whose listing failed is tried again at registration.
RETRY_FAILED_S = 300.0

_file_lock = threading.Lock()


def cache_path(home: Path) -> Path:
    """``<az home>/mcp/tools.json``."""
    return home / "mcp" / "tools.json"


def read_cache(home: Path) -> dict[str, Any]:
    """The cache's ``servers`` mapping (``{}`` when missing or unreadable)."""
    try:
        data = json.loads(cache_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    servers = data.get("servers")
    return servers if isinstance(servers, dict) else {}


def write_entries(home: Path, entries: dict[str, dict[str, Any] | None]) -> None:
    """Update (or, for ``None``, drop) servers' entries, atomically."""
    from az_os.util import file_lock, write_json

    path = cache_path(home)
    # the file lock: two az processes listing servers at once keep both updates
    with _file_lock, file_lock(path):
        servers = read_cache(home)
        for name, entry in entries.items():
            if entry is None:
                servers.pop(name, None)
            else:
                servers[name] = entry
        write_json(path, {"version": CACHE_VERSION, "servers": servers}, indent=1)


def fresh_entry(entry: Any, cfg: ServerConfig, now: float | None = None) -> bool:
    """Whether a cache entry can be used as is for ``cfg``."""
    if not isinstance(entry, dict) or entry.get("key") != cfg.key():
        return False
    if entry.get("error"):
        now = time.time() if now is None else now
        return now - float(entry.get("listed_at") or 0) < RETRY_FAILED_S
    return isinstance(entry.get("tools"), list)


async def probe(client: MCPClient) -> dict[str, Any]:
    """Start a server, list its tools, stop it. Returns a cache entry
    (never raises)."""
    entry: dict[str, Any] = {"key": client.config.key(), "listed_at": time.time()}
    try:
        entry["tools"] = await client.list_tools()
        entry["error"] = None
    except ServerStartError as exc:
        entry["tools"], entry["error"] = [], one_line(f"could not start: {exc}")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        entry["tools"], entry["error"] = [], one_line(str(leaf_exception(exc)))
    finally:
        await client.aclose()
    return entry


def discover(
    servers: dict[str, ServerConfig], home: Path, refresh: bool = False
) -> dict[str, dict[str, Any]]:
    """Cache entries for ``servers`` (name → entry), probing the ones whose
    entry is missing or stale (all of them with ``refresh``), side by side,
    and saving what was learnt. Safe to call from sync code inside a
    running event loop (it probes in a helper thread)."""
    cached = read_cache(home)
    out: dict[str, dict[str, Any]] = {}
    todo: dict[str, ServerConfig] = {}
    for name, cfg in servers.items():
        if not refresh and fresh_entry(cached.get(name), cfg):
            out[name] = cached[name]
        else:
            todo[name] = cfg
    if todo:

        async def probe_all() -> list[dict[str, Any]]:
            # own clients, not the shared ones: this loop is thrown away
            clients = [MCPClient(n, c, home) for n, c in todo.items()]
            return list(await asyncio.gather(*(probe(c) for c in clients)))

        entries = run_sync(probe_all)
        learnt = dict(zip(todo, entries, strict=True))
        write_entries(home, dict(learnt))
        out.update(learnt)
    return out


class MCPTool(Tool):
    """One tool of an MCP server, named ``SERVER.TOOL`` in az.

    ``spec.read_only`` comes from the tool's ``readOnlyHint`` annotation
    (False when absent), so the kernel's approval policy treats unmarked
    MCP tools as writes. :meth:`call` is async and talks to the server in
    the caller's event loop (starting it on first use).
    """

    def __init__(self, server: str, info: dict[str, Any], client: MCPClient) -> None:
        self.server = server
        self.tool = str(info["name"])
        self.client = client
        schema = info.get("inputSchema") or {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            schema = {"type": "object", "properties": {}}
        description = (info.get("description") or "").strip() or f"the '{self.tool}' tool"
        self.spec = ToolSpec(
            name=f"{server}.{self.tool}",
            description=f"{description} (MCP server '{server}')",
            input_schema=schema,
            category="mcp",
            read_only=bool(info.get("read_only")),
        )

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Call the tool on its server; failures come back as ``success=False``."""
        limit = ctx.config.tools.output_limit_bytes if ctx.config is not None else None
        return await self.client.call_tool(self.tool, arguments, output_limit=limit)

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Synchronous form of :meth:`call` (a private event loop, closed after)."""

        async def once() -> ToolResult:
            try:
                return await self.call(arguments, ctx)
            finally:
                await self.client.aclose()

        return run_sync(once)


def bridged_tools(config: Any) -> list[MCPTool]:
    """The az tools of every enabled server in ``config`` (from the cache,
    probing servers not in it)."""
    from az_mcp.settings import load_settings

    settings = load_settings(config)
    enabled = {n: c for n, c in settings.servers.items() if c.enabled}
    if not enabled:
        return []
    home = config.home
    entries = discover(enabled, home)
    tools: list[MCPTool] = []
    for name, cfg in enabled.items():
        entry = entries.get(name) or {}
        client = get_client(name, cfg, home)
        for info in entry.get("tools") or []:
            if isinstance(info, dict) and info.get("name"):
                tools.append(MCPTool(name, info, client))
    return tools
