"""``az mcp``: manage MCP servers, call their tools, serve az's tools.

Only typer is imported here; the MCP SDK is loaded inside the commands.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from az_os.errors import AzError, NotFoundError

mcp_app = typer.Typer(
    help=(
        "Use tools from MCP servers, and serve az's tools over MCP.\n\n"
        "Servers live in config.toml as [mcp.servers.NAME] (command/args/env for stdio, or url "
        "for streamable HTTP); their tools become az tools named NAME.TOOL.\n\n"
        "\b\n"
        "  az mcp add time -- python -m mcp_server_time\n"
        "  az mcp tools time\n"
        '  az mcp call time get_current_time --args \'{"timezone": "UTC"}\'\n'
        "  az task run \"what time is it in Tokyo?\" --tools 'time.*'"
    ),
    no_args_is_help=True,
)


class MCPCallError(AzError):
    """An ``az mcp call`` whose tool failed (the message is the tool's error)."""


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _load() -> tuple[Any, Any]:
    from az_os.config import load_config

    from az_mcp.settings import load_settings

    config = load_config()
    return config, load_settings(config)


def _server(settings: Any, name: str) -> Any:
    cfg = settings.servers.get(name)
    if cfg is None:
        known = ", ".join(sorted(settings.servers)) or "none configured"
        raise NotFoundError(
            f"no MCP server '{name}' (known: {known}); "
            f"add one with 'az mcp add {name} -- COMMAND ...'"
        )
    return cfg


@mcp_app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
    cached: bool = typer.Option(
        False, "--cached", help="Show what the tool cache knows instead of starting servers."
    ),
) -> None:
    """List configured MCP servers with their status and tool count.

    Every enabled server is started (side by side), asked for its tools and
    stopped, so a broken server shows its error; --cached reads the tool
    cache instead. The cache is refreshed with what was learnt.

    JSON shape: [{"name", "transport": "stdio"|"http", "target" (command
    line or URL), "enabled", "status": "ok"|"error"|"disabled"|"unknown",
    "tools" (int or null), "error" (one line or null), "timeout_s",
    "startup_timeout_s"}].
    """
    from az_mcp.bridge import discover, read_cache

    config, settings = _load()
    enabled = {n: c for n, c in settings.servers.items() if c.enabled}
    if cached:
        raw = read_cache(config.home)
        entries = {n: raw[n] for n in enabled if n in raw and raw[n].get("key") == enabled[n].key()}
    else:
        entries = discover(enabled, config.home, refresh=True)
    rows = []
    for name, cfg in settings.servers.items():
        entry = entries.get(name)
        if not cfg.enabled:
            status, tools, error = "disabled", None, None
        elif entry is None:
            status, tools, error = "unknown", None, None
        elif entry.get("error"):
            status, tools, error = "error", None, entry["error"]
        else:
            status, tools, error = "ok", len(entry.get("tools") or []), None
        rows.append(
            {
                "name": name,
                "transport": cfg.transport,
                "target": cfg.describe(),
                "enabled": cfg.enabled,
                "status": status,
                "tools": tools,
                "error": error,
                "timeout_s": cfg.timeout,
                "startup_timeout_s": cfg.startup_timeout,
            }
        )
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print(
            "No MCP servers configured. Add one, e.g.: "
            "[bold]az mcp add time -- python -m mcp_server_time[/]"
        )
        return
    table = Table(box=None, header_style="bold")
    for col in ("name", "status", "tools", "transport", "command / url"):
        table.add_column(col)
    colours = {"ok": "green", "error": "red", "disabled": "yellow", "unknown": "yellow"}
    for r in rows:
        status = f"[{colours[r['status']]}]{r['status']}[/]"
        target = r["target"] if not r["error"] else f"{r['target']}\n[red]{r['error']}[/]"
        table.add_row(
            r["name"], status, "" if r["tools"] is None else str(r["tools"]), r["transport"], target
        )
    console.print(table)


@mcp_app.command("tools")
def tools_cmd(
    name: str = typer.Argument(None, help="Only this server's tools."),
    refresh: bool = typer.Option(
        False, "--refresh", help="Start the servers and ask again instead of using the cache."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List the tools MCP servers lend to az (named SERVER.TOOL).

    Uses the tool cache (<az home>/mcp/tools.json); servers not in it, and
    all of them with --refresh, are started to list their tools.

    JSON shape: [{"name": "SERVER.TOOL", "server", "tool", "description",
    "read_only" (bool, from the readOnlyHint annotation), "input_schema"}].
    A server that failed adds {"server", "error"} instead of tools.
    """
    from az_mcp.bridge import discover

    config, settings = _load()
    if name is not None:
        servers = {name: _server(settings, name)}
    else:
        servers = {n: c for n, c in settings.servers.items() if c.enabled}
    entries = discover(servers, config.home, refresh=refresh)
    rows: list[dict[str, Any]] = []
    for server, entry in entries.items():
        if entry.get("error"):
            rows.append({"server": server, "error": entry["error"]})
            continue
        for t in entry.get("tools") or []:
            rows.append(
                {
                    "name": f"{server}.{t['name']}",
                    "server": server,
                    "tool": t["name"],
                    "description": t.get("description") or "",
                    "read_only": bool(t.get("read_only")),
                    "input_schema": t.get("inputSchema") or {},
                }
            )
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print("No MCP tools: no enabled server is configured ('az mcp add --help').")
        return
    table = Table(box=None, header_style="bold")
    for col in ("name", "read-only", "arguments", "description"):
        table.add_column(col)
    for r in rows:
        if "error" in r:
            table.add_row(f"{r['server']}.*", "", "", f"[red]error: {r['error']}[/]")
            continue
        props = (
            (r["input_schema"].get("properties") or {})
            if isinstance(r["input_schema"], dict)
            else {}
        )
        required = (
            set(r["input_schema"].get("required") or [])
            if isinstance(r["input_schema"], dict)
            else set()
        )
        args = ", ".join(f"{k}{'' if k in required else '?'}" for k in props)
        desc = r["description"].strip().splitlines()[0] if r["description"].strip() else ""
        table.add_row(r["name"], "yes" if r["read_only"] else "no", args, desc)
    console.print(table)


@mcp_app.command("call")
def call_cmd(
    name: str = typer.Argument(..., help="Server name (as in 'az mcp list')."),
    tool: str = typer.Argument(..., help="Tool name on that server (without the NAME. prefix)."),
    args: str = typer.Option("{}", "--args", "-a", help="Arguments as a JSON object."),
    timeout: float = typer.Option(
        None, "--timeout", help="Seconds to wait for the answer (default: the server's timeout)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole tool result as JSON."),
) -> None:
    """Call one tool of an MCP server directly, without a task or a model.

    The server is started, called once and stopped before the command
    returns. A failed call (tool error, crash, timeout) exits with status 1.

    JSON shape (also printed on failure): {"success", "result", "error",
    "metadata": {"server", "tool", "content_types"}, "duration_ms"}.
    """
    import asyncio

    from az_mcp.client import MCPClient

    config, settings = _load()
    cfg = _server(settings, name)
    try:
        arguments = json.loads(args)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint="--args") from None
    if not isinstance(arguments, dict):
        raise typer.BadParameter(
            'must be a JSON object, e.g. \'{"path": "."}\'', param_hint="--args"
        )

    async def once() -> Any:
        client = MCPClient(name, cfg, config.home)
        try:
            return await client.call_tool(tool, arguments, timeout=timeout)
        finally:
            await client.aclose()

    result = asyncio.run(once())
    if as_json:
        _print_json(result.to_dict())
        if not result.success:
            raise typer.Exit(1)
        return
    if not result.success:
        raise MCPCallError(result.error or "the call failed")
    value = result.result
    if isinstance(value, str):
        sys.stdout.write(value if value.endswith("\n") else value + "\n")
    else:
        _print_json(value)


@mcp_app.command("add")
def add_cmd(
    name: str = typer.Argument(..., help="Server name; its tools become NAME.TOOL."),
    command: list[str] = typer.Argument(
        None, help="After '--': the command that starts a stdio server, and its arguments."
    ),
    url: str = typer.Option(None, "--url", help="A streamable HTTP endpoint instead of a command."),
    env: list[str] = typer.Option(
        None,
        "--env",
        "-e",
        help="K=V for the server's environment (repeatable); ${VAR} is read at start.",
    ),
    cwd: str = typer.Option(None, "--cwd", help="Working directory of the server process."),
    timeout: float = typer.Option(
        None, "--timeout", help="Seconds each tool call may take (default 60)."
    ),
    startup_timeout: float = typer.Option(
        None,
        "--startup-timeout",
        help="Seconds to start and finish the MCP handshake (default 30).",
    ),
    disabled: bool = typer.Option(
        False, "--disabled", help="Add it switched off (enabled = false)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a server of the same name."),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Start it once to list its tools."),
) -> None:
    """Add an MCP server to config.toml as [mcp.servers.NAME].

    Examples:

      az mcp add time -- python -m mcp_server_time --local-timezone UTC

      az mcp add git -- python -m mcp_server_git --repository .

      az mcp add remote --url http://127.0.0.1:8000/mcp
    """
    from az_os.config import load_config, set_value

    from az_mcp.settings import NAME_RE, load_settings, parse_settings

    if not NAME_RE.match(name):
        raise typer.BadParameter("use letters, digits, '_' and '-' only", param_hint="NAME")
    table: dict[str, Any] = {}
    command = [c for c in (command or [])]
    if command and command[0] == "--":  # click keeps the separator in the list
        command = command[1:]
    if command:
        table["command"], table["args"] = command[0], list(command[1:])
    if url:
        table["url"] = url
    if not command and not url:
        raise typer.BadParameter("give a command after '--' or --url", param_hint="COMMAND")
    if env:
        pairs = {}
        for item in env:
            if "=" not in item:
                raise typer.BadParameter(f"expected K=V, got '{item}'", param_hint="--env")
            k, v = item.split("=", 1)
            pairs[k] = v
        table["env"] = pairs
    if cwd:
        table["cwd"] = cwd
    if timeout is not None:
        table["timeout"] = timeout
    if startup_timeout is not None:
        table["startup_timeout"] = startup_timeout
    if disabled:
        table["enabled"] = False
    settings = load_settings()
    if name in settings.servers and not force:
        raise AzError(f"MCP server '{name}' already exists; use --force to replace it")
    new = parse_settings({"servers": {name: table}}).servers[name]
    if name in settings.servers:
        from az_os.config import unset_value

        unset_value(f"mcp.servers.{name}")
    config = set_value(f"mcp.servers.{name}", table)
    sys.stdout.write(f"added MCP server '{name}': {new.describe()}  ({config.path})\n")
    if probe and new.enabled:
        from az_mcp.bridge import discover

        entry = discover({name: new}, load_config().home, refresh=True)[name]
        if entry.get("error"):
            sys.stderr.write(f"az: warning: '{name}' does not work yet: {entry['error']}\n")
        else:
            names = ", ".join(f"{name}.{t['name']}" for t in entry["tools"])
            sys.stdout.write(f"{len(entry['tools'])} tool(s): {names}\n")


@mcp_app.command("remove")
def remove_cmd(name: str = typer.Argument(..., help="Server name to remove.")) -> None:
    """Remove [mcp.servers.NAME] from config.toml (and its cached tool list)."""
    from az_os.config import load_config, unset_value

    from az_mcp.bridge import write_entries

    config, settings = _load()
    _server(settings, name)
    unset_value(f"mcp.servers.{name}")
    write_entries(load_config().home, {name: None})
    sys.stdout.write(f"removed MCP server '{name}'\n")


@mcp_app.command("serve")
def serve_cmd(
    transport: str = typer.Option(
        "stdio", "--transport", "-t", help="stdio (for editors and agents that start az) or http."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (http)."),
    port: int = typer.Option(
        8000, "--port", "-p", min=1, max=65535, help="TCP port (http); the endpoint is /mcp."
    ),
    approve: str = typer.Option(
        "read-only",
        "--approve",
        help=(
            "read-only: only tools marked read-only run; "
            "auto: every tool runs (the deny-list still applies)."
        ),
    ),
    workspace: str = typer.Option(
        None,
        "--workspace",
        "-w",
        help="Directory tools are confined to (default: current directory).",
    ),
    tools: list[str] = typer.Option(
        None, "--tools", help="Only serve tools matching these fnmatch patterns (repeatable)."
    ),
) -> None:
    """Serve every registered az tool (built-in, plugin and MCP-bridged) as an MCP server.

    Each call goes through az's approval policy with the mode given by
    --approve (default read-only): a refused call returns an MCP error
    result saying why. Example for an editor's MCP settings:
    {"command": "az", "args": ["mcp", "serve"]}.
    """
    from pathlib import Path

    from az_mcp.server import serve

    if transport not in ("stdio", "http"):
        raise typer.BadParameter("must be stdio or http", param_hint="--transport")
    if approve not in ("read-only", "auto"):
        raise typer.BadParameter("must be read-only or auto", param_hint="--approve")
    ws = Path(workspace).expanduser().resolve() if workspace else Path.cwd()
    if not ws.is_dir():
        raise typer.BadParameter(f"not a directory: {ws}", param_hint="--workspace")
    if transport == "http":
        import socket

        try:
            with socket.create_server((host, port)):
                pass
        except OSError as exc:
            raise AzError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    serve(
        transport=transport,  # type: ignore[arg-type]
        host=host,
        port=port,
        approval=approve,  # type: ignore[arg-type]
        workspace=ws,
        patterns=list(tools or []),
    )
