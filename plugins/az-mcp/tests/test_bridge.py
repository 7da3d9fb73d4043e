"""Bridged tools through the plugin host: registration, the tool cache,
calls from the engine's side, and the kernel's approval policy."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from az_os.errors import ToolRefusedError
from az_os.plugins import get_host
from az_os.tools import ToolContext
from az_os.types import Task, ToolCall
from mcp_helpers import add_server, flaky_server, time_server


def test_enabled_servers_tools_are_registered_as_name_dot_tool(az_home: Path) -> None:
    add_server("time", time_server())
    add_server("flaky", flaky_server())
    add_server("off", flaky_server(enabled=False))
    tools = get_host().tools()
    assert {"time.get_current_time", "time.convert_time", "flaky.echo", "flaky.crash"} <= set(tools)
    assert not any(n.startswith("off.") for n in tools)
    spec = tools["time.get_current_time"].spec
    assert spec.read_only is True and spec.category == "mcp" and spec.plugin == "mcp"
    assert spec.input_schema["required"] == ["timezone"]
    assert tools["flaky.crash"].spec.read_only is False  # no readOnlyHint: treated as a write


def test_tool_list_is_cached_and_refreshed_when_the_command_changes(az_home: Path) -> None:
    add_server("flaky", flaky_server())
    get_host().tools()
    cache = json.loads((az_home / "mcp" / "tools.json").read_text())
    entry = cache["servers"]["flaky"]
    assert {t["name"] for t in entry["tools"]} >= {"echo", "pid"} and entry["error"] is None

    from az_os.plugins import reset_host

    reset_host()
    t0 = time.perf_counter()
    assert "flaky.echo" in get_host().tools()
    assert time.perf_counter() - t0 < 0.5, "a cached listing must not start the server"

    add_server("flaky", {"command": "/nonexistent/server"})  # a new command: stale entry
    reset_host()
    assert not any(n.startswith("flaky.") for n in get_host().tools())
    entry = json.loads((az_home / "mcp" / "tools.json").read_text())["servers"]["flaky"]
    assert "command not found" in entry["error"]


def test_bridged_tool_call_in_the_callers_loop(az_home: Path) -> None:
    add_server("time", time_server())
    tool = get_host().tools()["time.get_current_time"]
    ctx = ToolContext(workspace=az_home)
    result = asyncio.run(tool.call({"timezone": "Europe/Paris"}, ctx))
    assert result.success and result.result["timezone"] == "Europe/Paris"
    sync = tool.run({"timezone": "UTC"}, ctx)  # the sync form works too
    assert sync.success and sync.result["timezone"] == "UTC"


def test_server_broken_after_listing_gives_a_tool_error(az_home: Path) -> None:
    """The cache says the tool exists, but the server no longer starts."""
    add_server("flaky", flaky_server())
    tools = get_host().tools()
    cache = az_home / "mcp" / "tools.json"
    data = json.loads(cache.read_text())
    add_server("flaky", flaky_server("die-at-start"))
    from az_mcp.settings import load_settings

    data["servers"]["flaky"]["key"] = load_settings().servers["flaky"].key()
    cache.write_text(json.dumps(data))
    from az_os.plugins import reset_host

    reset_host()
    tools = get_host().tools()
    result = asyncio.run(tools["flaky.echo"].call({"text": "x"}, ToolContext(workspace=az_home)))
    assert not result.success and "FLAKY_TOKEN is missing" in result.error


def test_approval_policy_applies_to_bridged_tools(az_home: Path) -> None:
    add_server("flaky", flaky_server())
    tools = get_host().tools()
    host = get_host()
    ro = Task(description="t", approval="read-only")
    host.before_tool_call(
        ro, ToolCall(name="flaky.echo", arguments={"text": "x"}), tools["flaky.echo"]
    )
    with pytest.raises(ToolRefusedError, match="read-only"):
        host.before_tool_call(ro, ToolCall(name="flaky.crash"), tools["flaky.crash"])
    auto = Task(description="t", approval="auto")
    host.before_tool_call(auto, ToolCall(name="flaky.crash"), tools["flaky.crash"])


def test_registration_inside_a_running_loop_works(az_home: Path) -> None:
    """The engine may ask for tools from async code; listing must not need the loop."""
    add_server("flaky", flaky_server())

    async def go():
        tools = get_host().tools()  # sync hook, called inside a running loop
        return await tools["flaky.echo"].call({"text": "inside"}, ToolContext(workspace=az_home))

    r = asyncio.run(go())
    assert r.success and r.result == "inside"


def test_invalid_mcp_section_registers_no_tools_and_does_not_break_others(az_home: Path) -> None:
    (az_home / "config.toml").write_text('[mcp.servers.bad]\ncommand = "x"\nurl = "http://h/mcp"\n')
    tools = get_host().tools()
    assert not any(n.startswith("bad.") for n in tools)


def test_health_check_reports_failing_servers_from_the_cache(az_home: Path) -> None:
    add_server("ghost", {"command": "/nonexistent/server"})
    get_host().tools()
    result = get_host().health_checks()["mcp"]()
    assert result.status == "degraded" and "ghost" in result.detail
