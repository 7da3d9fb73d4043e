"""MCP servers' tools as az tools, and the tool-list cache.

Registering tools (``az_register_tools``) must name every tool, but a
server has to run to say which tools it has. So each server's list is kept
in ``<az home>/mcp/tools.json`` under the server's name with the digest of
its command/args/env/cwd/url (:meth:`ServerConfig.key`): the first
registration starts the servers (side by side), later ones read the file.
Editing a server's command makes its entry stale; ``az mcp tools --refresh``
asks again. A server that failed to list is retried after
:data:`RETRY_FAILED_S` seconds; until then its error is shown by ``az mcp
list`` and it lends no tools.

Registration (``az tools list``, the start of ``az task run``) never waits
long for a server. Servers missing from the cache (or due a retry) are asked
by a detached process (:mod:`az_mcp.refresh`), which waits for each up to its
``startup_timeout``, caches the answer and stops the servers; registration
uses what arrives within :data:`LIST_WAIT_S` seconds and goes on without the
rest. A server without an answer gets one ``az: warning:`` line naming it,
and if an earlier list of its tools is cached those tools are registered
marked stale (their description starts with ``[stale: ...]``; a call starts
the server as usual). Commands started while that refresh runs do not wait
for it again. ``az mcp list`` and ``az mcp tools`` wait for every server up
to its ``startup_timeout`` themselves.

Cache file shape::

    {"version": 1, "servers": {"NAME": {"key": "…16 hex…",
        "listed_at": 1732170000.0,          # Unix time, seconds
        "tools": [{"name", "description", "inputSchema", "annotations",
                   "read_only"}, …],
        "error": null | "one line",
        # a server that did not answer in time ("error": "not responding: ..."):
        "stale": true, "tools_listed_at": …,  # "tools" is an earlier list
        "pending": 1234}}}                  # pid of the refresh still asking it
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
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

#: Seconds registration waits for servers missing from the cache before it
#: goes on without them (they keep starting in the background).
LIST_WAIT_S = 5.0

_file_lock = threading.Lock()
log = logging.getLogger("az.mcp")


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


def save_entries(home: Path, entries: dict[str, dict[str, Any] | None]) -> None:
    """:func:`write_entries`, but a home that cannot be written (read-only,
    full) only costs the cache: the entries are still used in this process."""
    try:
        write_entries(home, entries)
    except OSError as exc:
        log.warning("cannot update the MCP tool cache in %s: %s", home, exc)


def fresh_entry(entry: Any, cfg: ServerConfig, now: float | None = None) -> bool:
    """Whether a cache entry can be used as is for ``cfg``."""
    if not isinstance(entry, dict) or entry.get("key") != cfg.key():
        return False
    if entry.get("error"):
        now = time.time() if now is None else now
        return now - float(entry.get("listed_at") or 0) < RETRY_FAILED_S
    return isinstance(entry.get("tools"), list)


async def probe(client: MCPClient, previous: Any = None) -> dict[str, Any]:
    """Start a server, list its tools, stop it. Returns a cache entry
    (never raises). A server that does not answer the handshake in time
    gets :func:`not_responding_entry`, keeping the tools of ``previous``
    (its earlier entry) marked stale."""
    entry: dict[str, Any] = {"key": client.config.key(), "listed_at": time.time()}
    try:
        entry["tools"] = await client.list_tools()
        entry["error"] = None
    except ServerStartError as exc:
        if str(exc).startswith(HANDSHAKE_TIMEOUT):
            why = str(exc).split("; raise", 1)[0].replace(HANDSHAKE_TIMEOUT, "no answer", 1)
            return not_responding_entry(client.config, previous, why)
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

        async def probe_one(name: str, cfg: ServerConfig) -> dict[str, Any]:
            # own clients, not the shared ones: this loop is thrown away
            entry = await probe(MCPClient(name, cfg, home), cached.get(name))
            # saved as it comes: a quick server's tools need not wait for a slow one's
            await asyncio.to_thread(save_entries, home, {name: entry})
            return entry

        async def probe_all() -> list[dict[str, Any]]:
            return list(await asyncio.gather(*(probe_one(n, c) for n, c in todo.items())))

        entries = run_sync(probe_all)
        out.update(zip(todo, entries, strict=True))
    return out


#: How the error of a server that did not answer in time starts.
NOT_RESPONDING = "not responding"

#: How :class:`~az_mcp.client.ServerStartError` says the handshake timed out.
HANDSHAKE_TIMEOUT = "did not answer the MCP handshake"


def not_responding_entry(
    cfg: ServerConfig, cached: Any, why: str, now: float | None = None
) -> dict[str, Any]:
    """The cache entry of a server that did not answer in time (``why``
    says how long was waited): an error, keeping the tools of ``cached``
    (marked ``stale``) when that entry is for the same command and has any."""
    entry: dict[str, Any] = {
        "key": cfg.key(),
        "listed_at": time.time() if now is None else now,
        "tools": [],
        "error": one_line(f"{NOT_RESPONDING}: {why}"),
    }
    if isinstance(cached, dict) and cached.get("key") == cfg.key() and cached.get("tools"):
        entry["tools"] = cached["tools"]
        entry["stale"] = True
        entry["tools_listed_at"] = cached.get("tools_listed_at", cached.get("listed_at"))
    return entry


def _pending(entry: Any, now: float | None = None) -> bool:
    """Whether ``entry`` is a placeholder for a refresh still running: its
    refresher process is alive and started before the entry was written."""
    if not isinstance(entry, dict) or not entry.get("pending"):
        return False
    from az_os.util import process_alive

    return process_alive(int(entry["pending"]), started_before=float(entry.get("listed_at") or 0))


def start_refresh(servers: dict[str, ServerConfig], home: Path) -> Any:
    """Ask ``servers`` for their tools in a detached process
    (``python -m az_mcp.refresh NAME...``), which caches what it learns and
    stops the servers, whether or not this process is still there. Each
    server's entry is first replaced by a placeholder naming that process
    (``"pending": pid``; the earlier tools kept, marked stale). Returns the
    :class:`subprocess.Popen`, or ``None`` when it could not be started."""
    import os
    import subprocess
    import sys

    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "az_mcp.refresh", *servers],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for this command does not stop it
            env={**os.environ, "AZ_HOME": str(home)},
        )
    except OSError as exc:
        log.warning("cannot start the MCP tool refresh: %s", exc)
        return None
    cached = read_cache(home)
    now = time.time()
    placeholders: dict[str, dict[str, Any]] = {}
    for name, cfg in servers.items():
        entry = not_responding_entry(cfg, cached.get(name), "still starting", now)
        entry["pending"] = proc.pid
        placeholders[name] = entry
    # the refresher may already have written a result: do not overwrite it
    from az_os.util import file_lock, write_json

    def listed_at(entry: Any) -> float:
        return float(entry.get("listed_at") or 0) if isinstance(entry, dict) else 0.0

    try:
        with _file_lock, file_lock(cache_path(home)):
            current = read_cache(home)
            for name, entry in placeholders.items():
                if listed_at(current.get(name)) <= listed_at(cached.get(name)):
                    current[name] = entry
            write_json(cache_path(home), {"version": CACHE_VERSION, "servers": current}, indent=1)
    except OSError as exc:
        log.warning("cannot update the MCP tool cache in %s: %s", home, exc)
    return proc


def discover_briefly(
    servers: dict[str, ServerConfig], home: Path, wait: float | None = None
) -> dict[str, dict[str, Any]]:
    """Cache entries for ``servers`` without waiting more than ``wait``
    seconds (default :data:`LIST_WAIT_S`). Servers with a usable entry (or a refresh already running) are
    answered from the cache; the others are refreshed by
    :func:`start_refresh`, whose results are used if they arrive within
    ``wait``. A server without an answer gets its placeholder entry (an
    error starting with :data:`NOT_RESPONDING`, earlier tools kept stale)."""
    cached = read_cache(home)
    out: dict[str, dict[str, Any]] = {}
    todo: dict[str, ServerConfig] = {}
    now = time.time()
    for name, cfg in servers.items():
        entry = cached.get(name)
        if _pending(entry) and isinstance(entry, dict) and entry.get("key") == cfg.key():
            out[name] = entry
        elif not (isinstance(entry, dict) and entry.get("pending")) and fresh_entry(
            entry, cfg, now
        ):
            out[name] = entry  # type: ignore[assignment]
        else:
            todo[name] = cfg
    if not todo:
        return out
    proc = start_refresh(todo, home)
    if proc is not None:
        import subprocess

        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(LIST_WAIT_S if wait is None else wait)
    learnt = read_cache(home)
    for name, cfg in todo.items():
        entry = learnt.get(name)
        if isinstance(entry, dict) and entry.get("key") == cfg.key():
            out[name] = entry
        else:
            out[name] = not_responding_entry(cfg, cached.get(name), "still starting", now)
    return out


def _stale_note(server: str, entry: dict[str, Any]) -> str:
    when = entry.get("tools_listed_at")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(when))) if when else "earlier"
    return f"[stale: MCP server '{server}' is not responding; tool list from {stamp}] "


class MCPTool(Tool):
    """One tool of an MCP server, named ``SERVER.TOOL`` in az.

    ``spec.read_only`` comes from the tool's ``readOnlyHint`` annotation
    (False when absent), so the kernel's approval policy treats unmarked
    MCP tools as writes. :meth:`call` is async and talks to the server in
    the caller's event loop (starting it on first use).
    """

    def __init__(
        self, server: str, info: dict[str, Any], client: MCPClient, note: str = ""
    ) -> None:
        self.server = server
        self.tool = str(info["name"])
        self.client = client
        schema = info.get("inputSchema") or {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            schema = {"type": "object", "properties": {}}
        description = (info.get("description") or "").strip() or f"the '{self.tool}' tool"
        self.spec = ToolSpec(
            name=f"{server}.{self.tool}",
            description=f"{note}{description} (MCP server '{server}')",
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
    """The az tools of every enabled server in ``config``: from the cache,
    probing servers not in it for at most :data:`LIST_WAIT_S` seconds (see
    the module docstring). A server that does not answer in time gets one
    ``az: warning:`` line on stderr; its cached tools, if any, come marked
    stale."""
    import sys

    from az_mcp.settings import load_settings

    settings = load_settings(config)
    enabled = {n: c for n, c in settings.servers.items() if c.enabled}
    if not enabled:
        return []
    home = config.home
    entries = discover_briefly(enabled, home)
    tools: list[MCPTool] = []
    for name, cfg in enabled.items():
        entry = entries.get(name) or {}
        client = get_client(name, cfg, home)
        note = _stale_note(name, entry) if entry.get("stale") else ""
        error = str(entry.get("error") or "")
        if entry.get("pending"):
            waited = max(0.0, time.time() - float(entry.get("listed_at") or 0))
            error = f"{NOT_RESPONDING}: no answer after {waited:.0f} s (still being asked)"
        if error.startswith(NOT_RESPONDING):
            kept = [t.get("name") for t in entry.get("tools") or [] if isinstance(t, dict)]
            sys.stderr.write(
                f"az: warning: MCP server '{name}' is {error}"
                + (
                    f"; its {len(kept)} tool(s) are from an earlier list, marked stale"
                    if kept
                    else "; it lends no tools until it answers"
                )
                + f" ('az mcp list' waits up to its startup_timeout, {cfg.startup_timeout:g} s)\n"
            )
        elif error:
            sys.stderr.write(f"az: warning: MCP server '{name}' lends no tools: {error}\n")
        for info in entry.get("tools") or []:
            if isinstance(info, dict) and info.get("name"):
                tools.append(MCPTool(name, info, client, note))
    return tools
