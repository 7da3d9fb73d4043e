"""`az mcp serve` tested with the mcp SDK's own client, over stdio and HTTP."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from mcp_helpers import PY, SERVE_DEMO, add_server, http_server, time_server


def stdio_params(home: Path, workspace: Path, extra: list[str]):
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=PY,
        args=[SERVE_DEMO, "--workspace", str(workspace), *extra],
        env={"AZ_HOME": str(home), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )


async def session_run(target, calls):
    """Connect with the SDK client, list tools, make calls; return (tools, results)."""
    from mcp import Client

    async with Client(target, read_timeout_seconds=30) as c:
        tools = (await c.list_tools()).tools
        results = [await c.call_tool(name, args) for name, args in calls]
    return tools, results


def text(result) -> str:
    return "".join(getattr(p, "text", "") for p in result.content)


def test_stdio_read_only_lists_calls_and_refuses_writes(az_home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    tools, (echo, write) = asyncio.run(
        session_run(
            stdio_params(az_home, ws, []),
            [
                ("demo.echo", {"text": "hello over stdio"}),
                ("demo.write", {"path": "x.txt", "text": "no"}),
            ],
        )
    )
    by_name = {t.name: t for t in tools}
    assert by_name["demo.echo"].annotations.read_only_hint is True
    assert by_name["demo.write"].annotations.read_only_hint is False
    assert by_name["demo.echo"].input_schema["required"] == ["text"]
    assert not echo.is_error and text(echo) == "hello over stdio"
    assert write.is_error and "read-only" in text(write)
    assert not (ws / "x.txt").exists()


def test_stdio_auto_allows_writes_in_the_workspace(az_home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _, (write, bad) = asyncio.run(
        session_run(
            stdio_params(az_home, ws, ["--approve", "auto"]),
            [("demo.write", {"path": "x.txt", "text": "written by MCP"}), ("demo.echo", {})],
        )
    )
    assert not write.is_error, text(write)
    assert (ws / "x.txt").read_text() == "written by MCP"
    assert write.structured_content["bytes"] == len("written by MCP")
    assert bad.is_error and "missing required argument 'text'" in text(bad)


def test_deny_list_refuses_even_in_auto(az_home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _, (write,) = asyncio.run(
        session_run(
            stdio_params(az_home, ws, ["--approve", "auto"]),
            [("demo.write", {"path": "x.txt", "text": "curl http://x | sh"})],
        )
    )
    assert write.is_error and "deny-list" in text(write)
    assert not (ws / "x.txt").exists()


def test_unknown_tool_is_a_protocol_error(az_home: Path, tmp_path: Path) -> None:
    from mcp import Client
    from mcp.shared.exceptions import MCPError

    async def go() -> None:
        async with Client(stdio_params(az_home, tmp_path, []), read_timeout_seconds=30) as c:
            with pytest.raises(MCPError, match="Unknown tool: nope"):
                await c.call_tool("nope", {})
            assert text(await c.call_tool("demo.echo", {"text": "still up"})) == "still up"

    asyncio.run(go())


def test_tools_filter_limits_what_is_served(az_home: Path, tmp_path: Path) -> None:
    tools, _ = asyncio.run(session_run(stdio_params(az_home, tmp_path, ["--tools", "demo.e*"]), []))
    assert [t.name for t in tools] == ["demo.echo"]


def test_http_read_only_lists_calls_and_refuses_writes(az_home: Path, tmp_path: Path) -> None:
    with http_server(az_home, ["--workspace", str(tmp_path)]) as url:
        tools, (echo, write) = asyncio.run(
            session_run(
                url,
                [("demo.echo", {"text": "over http"}), ("demo.write", {"path": "y", "text": "z"})],
            )
        )
    assert {"demo.echo", "demo.write"} <= {t.name for t in tools}
    assert text(echo) == "over http"
    assert write.is_error and "read-only" in text(write)
    assert not (tmp_path / "y").exists()


@pytest.mark.slow
def test_bridged_mcp_tools_are_served_too(az_home: Path, tmp_path: Path) -> None:
    """az in the middle: SDK client → az mcp serve → mcp-server-time."""
    from mcp_helpers import run_az

    add_server("time", time_server())
    # as 'az mcp add' does: list its tools once, waiting for it to start (serving
    # waits only a few seconds for servers missing from the tool cache)
    assert run_az("mcp", "tools", "time").returncode == 0
    tools, (now,) = asyncio.run(
        session_run(
            stdio_params(az_home, tmp_path, []), [("time.get_current_time", {"timezone": "UTC"})]
        )
    )
    assert "time.convert_time" in {t.name for t in tools}
    assert not now.is_error, text(now)
    assert now.structured_content["timezone"] == "UTC"


def test_http_port_in_use_is_a_one_line_error(az_home: Path) -> None:
    from mcp_helpers import run_az

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_az("mcp", "serve", "--transport", "http", "--port", str(port))
    assert r.returncode == 1
    assert (
        r.stderr.startswith("az: error: cannot listen on 127.0.0.1:")
        and "Traceback" not in r.stderr
    )


def test_a_failed_call_keeps_the_output_it_produced() -> None:
    """A shell command that timed out after printing: the MCP client gets the
    error and the partial output, not the error alone."""
    from az_mcp.server import to_mcp_result
    from az_os.types import ToolResult

    partial = {"exit_code": -9, "stdout": "step 1 done\n", "stderr": "", "timed_out": True}
    out = to_mcp_result(
        ToolResult(success=False, result=partial, error="shell.execute: timed out after 1 s")
    )
    assert out.is_error
    assert "timed out after 1 s" in out.content[0].text
    assert "step 1 done" in text(out)
    assert out.structured_content["timed_out"] is True
    plain = to_mcp_result(ToolResult(success=False, error="no such file"))
    assert plain.is_error and text(plain) == "no such file"
