"""``az mcp serve``: every registered az tool, served over MCP.

Built on the SDK's low-level ``Server`` (tools/list and tools/call
handlers), over stdio or streamable HTTP (``http://HOST:PORT/mcp``, served
by uvicorn).

Each ``tools/call`` goes the way the engine's calls go: the arguments are
checked against the tool's schema (:func:`az_os.tools.validate_arguments`),
the kernel's approval policy and every ``az_before_tool_call`` hook run on a
:class:`~az_os.types.Task` whose ``approval`` is the serve mode
(``read-only`` by default: only tools whose spec says ``read_only`` run;
``auto``: all run, the ``tools.deny`` list still applies), then the tool,
then ``az_after_tool_call``; the call's duration is recorded in the storage
backend's ``tool_usage`` (task id null) when one is installed. A refused,
invalid or failed call is an MCP result with ``isError: true`` whose text
says why. An unknown tool name is a protocol error (``-32602``).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger("az.mcp.serve")


def select_tools(patterns: list[str]) -> dict[str, Any]:
    """Registered az tools by name, limited to those matching ``patterns``
    (fnmatch) when any are given."""
    from az_os.plugins import get_host

    tools = get_host().tools()
    if not patterns:
        return dict(tools)
    return {n: t for n, t in tools.items() if any(fnmatch.fnmatchcase(n, p) for p in patterns)}


def _error_result(text: str) -> Any:
    from mcp.types import CallToolResult, TextContent

    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def to_mcp_result(result: Any) -> Any:
    """An az :class:`~az_os.types.ToolResult` as an MCP ``CallToolResult``,
    with every secret az knows masked (:mod:`az_os.redact`): text content
    (strings as they are, other values as JSON), plus ``structuredContent``
    when the result is a JSON object. A failed result is ``isError`` with the
    error as its first text; output the tool produced before failing (a timed
    out shell command's stdout and stderr) follows as a second text and as
    ``structuredContent``."""
    from az_os.redact import redact
    from mcp.types import CallToolResult, TextContent

    result = redact(result)  # no secret az knows reaches the MCP client
    if not result.success:
        error = result.error or "the tool failed"
        if result.result is None:
            return _error_result(error)
        # a failure that still produced output (a shell command that timed
        # out after printing): the client gets the error and what was printed
        partial = result.result
        text = partial if isinstance(partial, str) else json.dumps(partial, ensure_ascii=False)
        from mcp.types import TextContent

        return CallToolResult(
            content=[TextContent(type="text", text=error), TextContent(type="text", text=text)],
            structured_content=partial if isinstance(partial, dict) else None,
            is_error=True,
        )
    value = result.result
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    structured = value if isinstance(value, dict) else None
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured
    )


def build_server(
    approval: Literal["read-only", "auto"] = "read-only",
    workspace: Path | None = None,
    patterns: list[str] | None = None,
) -> Any:
    """The SDK ``Server`` exposing az's tools under ``approval``.

    ``workspace`` is the directory tools are confined to (default: the
    current directory); ``patterns`` limit the tools served (fnmatch).
    The tool list is read once, when the server is built.
    """
    from az_os.config import load_config
    from az_os.errors import AzError, ToolArgumentsError
    from az_os.plugins import get_host
    from az_os.tools import ToolContext, validate_arguments
    from az_os.types import Task, ToolCall, ToolResult
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError
    from mcp.types import INVALID_PARAMS, ListToolsResult, Tool, ToolAnnotations

    from az_mcp import __version__

    ws = (workspace or Path.cwd()).resolve()
    config = load_config()
    tools = select_tools(list(patterns or []))
    host = get_host()
    from az_os.redact import learn_store

    learn_store(host)  # stored secrets are masked in results too

    def mcp_tool(tool: Any) -> Any:
        spec = tool.spec
        schema = spec.input_schema if isinstance(spec.input_schema, dict) else {}
        if schema.get("type") != "object":
            schema = {"properties": {}, **schema, "type": "object"}
        return Tool(
            name=spec.name,
            description=spec.description,
            input_schema=schema,
            annotations=ToolAnnotations(
                read_only_hint=spec.read_only, destructive_hint=not spec.read_only
            ),
        )

    listing = [mcp_tool(t) for t in tools.values()]

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return ListToolsResult(tools=listing)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        name = params.name
        tool = tools.get(name)
        if tool is None:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}")
        try:
            arguments = validate_arguments(tool.spec, dict(params.arguments or {}))
        except ToolArgumentsError as exc:
            return _error_result(str(exc))
        task = Task(description=f"MCP call of {name}", approval=approval, workspace=str(ws))
        call = ToolCall(name=name, arguments=arguments)
        try:
            host.before_tool_call(task, call, tool)
        except AzError as exc:
            return _error_result(str(exc))
        ctx_ = ToolContext(workspace=ws, task_id=None, approval=approval, config=config)
        try:
            result = await tool.call(arguments, ctx_)
        except Exception as exc:  # noqa: BLE001 - a broken tool is an error result
            result = ToolResult(success=False, error=f"{name} failed: {type(exc).__name__}: {exc}")
        host.after_tool_call(task, call, result)
        _record_usage(name, result.duration_ms)
        return to_mcp_result(result)

    return Server(
        "az",
        version=__version__,
        instructions=(
            "az's tools: files, shell, processes and whatever az's plugins and MCP servers add."
        ),
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        get_tool_input_schema=lambda n: tools[n].spec.input_schema if n in tools else None,
    )


def _record_usage(name: str, duration_ms: float) -> None:
    """Add the call to ``tool_usage`` when a storage backend is installed."""
    try:
        from az_os.drivers import get_storage

        get_storage().record_tool_usage(None, name, duration_ms)
    except Exception as exc:  # noqa: BLE001 - serving must not depend on storage
        log.debug("tool usage not recorded: %s", exc)


def serve(
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    approval: Literal["read-only", "auto"] = "read-only",
    workspace: Path | None = None,
    patterns: list[str] | None = None,
) -> None:
    """Run the server until stdin closes (stdio) or the process is stopped (http)."""
    import anyio

    server = build_server(approval=approval, workspace=workspace, patterns=patterns)

    async def main() -> None:
        from az_mcp.client import close_all

        try:
            if transport == "stdio":
                from mcp.server.stdio import stdio_server

                async with stdio_server() as (read, write):
                    await server.run(read, write, server.create_initialization_options())
            else:
                import uvicorn

                app = server.streamable_http_app(host=host)
                cfg = uvicorn.Config(app, host=host, port=port, log_level="warning")
                import sys

                sys.stderr.write(
                    f"az: serving {len(select_tools(list(patterns or [])))} tool(s) on "
                    f"http://{host}:{port}/mcp (approval: {approval})\n"
                )
                await uvicorn.Server(cfg).serve()
        finally:
            await close_all()

    anyio.run(main)
