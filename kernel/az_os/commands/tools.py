"""``az tools list`` and ``az tools info``: the tools the agent can call.

Works over :meth:`az_os.plugins.PluginHost.tools`, so built-in tools
(az-tools), MCP servers' tools (az-mcp) and third-party plugins' tools all
appear. With only the kernel's own tools (``aichat.complete``) installed,
``az tools list`` lists them and says on stderr what installs more, and
``az tools info`` of another name says what to install (exit 3).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from az_os.tools import Tool

tools_app = typer.Typer(
    help="Show the tools the agent can call (built-in, MCP and plugin tools).",
    no_args_is_help=True,
)

#: What installs tools beyond the kernel's own (aichat.complete).
INSTALL_HINT = (
    "pip install az-tools (filesystem, shell and process tools) or az-mcp (tools from MCP servers)"
)


def _tools() -> tuple[dict[str, Tool], bool]:
    """Every registered tool, and whether they are only the kernel's own
    (no tool plugin installed)."""
    from az_os.plugins import get_host

    host = get_host()
    tools = host.tools()
    builtin = {n for r in host.plugins() if r.builtin for n in (r.name, r.module)}
    return tools, not any(t.spec.plugin not in builtin for t in tools.values())


def _distributions() -> dict[str, str | None]:
    from az_os.plugins import get_host

    return {r.name: r.distribution for r in get_host().plugins()}


def _summary(description: str) -> str:
    """The description's first sentence."""
    first = description.strip().split("\n", 1)[0]
    for stop in (". ", ".\t"):
        if stop in first:
            return first.split(stop, 1)[0] + "."
    return first


def _to_dict(tool: Tool, dists: dict[str, str | None], full: bool) -> dict[str, Any]:
    spec = tool.spec
    out: dict[str, Any] = {
        "name": spec.name,
        "category": spec.category,
        "read_only": spec.read_only,
        "plugin": spec.plugin,
        "distribution": dists.get(spec.plugin or ""),
        "description": spec.description,
    }
    if full:
        out["input_schema"] = spec.input_schema
        out["status"] = _status(tool)
    return out


def _status(tool: Tool) -> dict[str, Any] | None:
    """What the tool says about how it runs here (``Tool.status``); a failure is shown, not raised."""
    from az_os.config import current_config

    try:
        return tool.status(current_config())
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not break az tools info
        return {"error": f"{type(exc).__name__}: {exc}"}


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@tools_app.command("list")
def tools_list(
    category: str = typer.Option(
        None, "--category", "-c", help="Only this category (filesystem, shell, system, ...)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List every tool: name, category, read-only, providing plugin and description.

    Read-only tools run under every approval mode; the others (writes, shell
    commands) need --approve auto, or a yes when az asks.

    JSON shape: [{"name", "category", "read_only": bool, "plugin",
    "distribution", "description"}], sorted by category then name.

    Examples: az tools list;  az tools list --category filesystem --json
    """
    from az_os.errors import NotFoundError

    tools, kernel_only = _tools()
    if kernel_only:
        names = ", ".join(sorted(tools)) or "none"
        sys.stderr.write(
            f"az: only the kernel's own tools are installed ({names}); {INSTALL_HINT}\n"
        )
    selected = [t for t in tools.values() if category is None or t.spec.category == category]
    if not selected:
        cats = ", ".join(sorted({t.spec.category for t in tools.values()}))
        raise NotFoundError(f"no tools in category '{category}' (categories: {cats})")
    selected.sort(key=lambda t: (t.spec.category, t.spec.name))
    dists = _distributions()
    if as_json:
        _print_json([_to_dict(t, dists, full=False) for t in selected])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("name", "category", "read-only", "plugin", "description"):
        table.add_column(col, overflow="fold" if col == "description" else "ellipsis")
    for t in selected:
        s = t.spec
        table.add_row(
            s.name,
            s.category,
            "yes" if s.read_only else "[yellow]no[/]",
            dists.get(s.plugin or "") or s.plugin or "",
            _summary(s.description),
        )
    Console().print(table)


def _matches(tools: dict[str, Tool], name: str, kernel_only: bool) -> tuple[str, list[Tool]]:
    """("tool", [tool]) for a tool name; ("category", [...]) for a category
    or a name prefix like ``filesystem``; NotFoundError otherwise
    (PluginMissingError when ``kernel_only``: no tool plugin is installed)."""
    from az_os.errors import NotFoundError

    if name in tools:
        return "tool", [tools[name]]
    group = [t for t in tools.values() if t.spec.category == name]
    if not group:
        group = [t for t in tools.values() if t.spec.name.startswith(name.rstrip(".") + ".")]
    if group:
        return "category", sorted(group, key=lambda t: t.spec.name)
    if kernel_only:
        from az_os.errors import PluginMissingError

        raise PluginMissingError(
            f"unknown tool or category '{name}': only the kernel's own tools are installed; "
            + INSTALL_HINT
        )
    import difflib

    cats = sorted({t.spec.category for t in tools.values()})
    close = difflib.get_close_matches(name, [*tools, *cats], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see 'az tools list'"
    raise NotFoundError(f"unknown tool or category '{name}'{hint}")


def _schema_rows(schema: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    rows = []
    for key, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        typ = prop.get("type", "any")
        typ = " | ".join(typ) if isinstance(typ, list) else str(typ)
        if "enum" in prop:
            typ += " (" + ", ".join(json.dumps(v) for v in prop["enum"]) + ")"
        default = json.dumps(prop["default"]) if "default" in prop else ""
        rows.append(
            (key, typ, "yes" if key in required else "no", default, prop.get("description", ""))
        )
    return rows


def _print_tool(console: Any, tool: Tool, dists: dict[str, str | None]) -> None:
    from rich.table import Table

    s = tool.spec
    dist = dists.get(s.plugin or "")
    console.print(
        f"[bold]{s.name}[/]  ({s.category}, {'read-only' if s.read_only else 'needs approval'})"
    )
    console.print(f"plugin: {s.plugin or '?'}" + (f" ({dist})" if dist else ""))
    console.print(s.description, highlight=False)
    for key, value in (_status(tool) or {}).items():
        console.print(f"{key}: {value}", highlight=False, markup=False)
    rows = _schema_rows(s.input_schema or {})
    if rows:
        table = Table(box=None, header_style="bold", title_justify="left")
        for col in ("argument", "type", "required", "default", "description"):
            table.add_column(col, overflow="fold" if col == "description" else "ellipsis")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        console.print("arguments: none")


@tools_app.command("info")
def tools_info(
    name_arg: str = typer.Argument(None, metavar="[NAME]", help="A tool name or a category."),
    name: str = typer.Option(
        None, "--name", "-n", help="A tool name (filesystem.read) or a category (filesystem)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show a tool's description, input schema and providing plugin.

    NAME is a tool (filesystem.read) or a category (filesystem), given as
    an argument or with --name. A category shows each of its tools.

    JSON shape for a tool: {"name", "category", "read_only", "plugin",
    "distribution", "description", "input_schema": JSON Schema, "status":
    how it runs here (e.g. shell.execute's sandbox) or null}.
    For a category: {"category", "tools": [<tool object>, ...]}.

    Examples: az tools info filesystem.read;  az tools info --name filesystem --json
    """
    from az_os.errors import AzError

    wanted = name or name_arg
    if not wanted:
        raise AzError("give a tool or category name, e.g. 'az tools info filesystem.read'")
    tools, kernel_only = _tools()
    kind, found = _matches(tools, wanted, kernel_only)
    dists = _distributions()
    if as_json:
        if kind == "tool":
            _print_json(_to_dict(found[0], dists, full=True))
        else:
            _print_json(
                {"category": wanted, "tools": [_to_dict(t, dists, full=True) for t in found]}
            )
        return
    from rich.console import Console

    console = Console()
    for i, tool in enumerate(found):
        if i:
            console.print()
        _print_tool(console, tool, dists)


def register(app: typer.Typer) -> None:
    """Add ``az tools`` to the root app."""
    app.add_typer(tools_app, name="tools")
