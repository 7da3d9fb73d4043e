"""MCPClient against real servers: mcp-server-time, mcp-server-git, and
test servers that crash, hang, fail and send malformed answers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from az_mcp.client import MCPClient
from az_mcp.settings import ServerConfig
from mcp_helpers import FLAKY, PY, RAW, children_of, pid_alive


def client(args: list[str], home: Path | None = None, **kw) -> MCPClient:
    return MCPClient("srv", ServerConfig(command=PY, args=args, **kw), home)


def run(coro_factory):
    return asyncio.run(coro_factory())


def test_time_server_lists_tools_with_read_only_and_schemas(az_home: Path) -> None:
    c = client(["-m", "mcp_server_time", "--local-timezone", "UTC"], az_home)

    async def go():
        try:
            return await c.list_tools(), await c.get_tool_info("srv.get_current_time")
        finally:
            await c.aclose()

    tools, info = run(go)
    names = {t["name"] for t in tools}
    assert {"get_current_time", "convert_time"} <= names
    assert info is not None and info["read_only"] is True
    assert info["inputSchema"]["required"] == ["timezone"]


def test_time_server_call_returns_structured_result_and_tool_errors(az_home: Path) -> None:
    c = client(["-m", "mcp_server_time", "--local-timezone", "UTC"], az_home)

    async def go():
        try:
            ok = await c.call_tool("get_current_time", {"timezone": "Asia/Tokyo"})
            bad = await c.call_tool("get_current_time", {"timezone": "Nowhere/Atlantis"})
            return ok, bad
        finally:
            await c.aclose()

    ok, bad = run(go)
    assert ok.success, ok.error
    assert ok.result["timezone"] == "Asia/Tokyo"
    assert ok.result["datetime"].endswith("+09:00")
    assert ok.metadata["server"] == "srv" and ok.duration_ms > 0
    assert not bad.success
    assert "Nowhere/Atlantis" in bad.error


def test_git_server_reads_a_real_repository(az_home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "notes.txt").write_text("hello\n")
    c = client(["-m", "mcp_server_git", "--repository", str(repo)], az_home)

    async def go():
        try:
            tools = {t["name"]: t for t in await c.list_tools()}
            status = await c.call_tool("git_status", {"repo_path": str(repo)})
            return tools, status
        finally:
            await c.aclose()

    tools, status = run(go)
    assert tools["git_status"]["read_only"] is True
    assert tools["git_commit"]["read_only"] is False
    assert status.success, status.error
    assert "notes.txt" in status.result


def test_one_session_per_event_loop_and_no_process_left(az_home: Path) -> None:
    c = client([FLAKY], az_home)

    async def two_calls():
        a = await c.call_tool("pid")
        b = await c.call_tool("pid")
        return int(a.result), int(b.result)

    p1, p2 = run(two_calls)  # the loop ends without aclose: asyncio.run's cleanup stops it
    assert p1 == p2, "two calls in one loop must share one server"
    deadline = time.time() + 10
    while pid_alive(p1) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(p1), "the server outlived its event loop"
    p3, _ = run(two_calls)
    assert p3 != p1, "a new loop starts its own server"


def test_call_in_a_second_thread_loop_works_alongside(az_home: Path) -> None:
    """Two loops (threads) using one client at once each get a session."""
    import threading

    c = client([FLAKY], az_home)
    results: list = []

    def worker() -> None:
        async def go():
            try:
                return await c.call_tool("echo", {"text": threading.current_thread().name})
            finally:
                await c.aclose()

        results.append(asyncio.run(go()))

    threads = [threading.Thread(target=worker, name=f"t{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.result for r in results) == ["t0", "t1"]


def test_crash_mid_call_is_a_tool_error_and_the_next_call_restarts(az_home: Path) -> None:
    c = client([FLAKY], az_home)

    async def go():
        try:
            before = await c.call_tool("pid")
            crash = await c.call_tool("crash")
            after = await c.call_tool("pid")
            return before, crash, after
        finally:
            await c.aclose()

    before, crash, after = run(go)
    assert not crash.success
    assert "closed the connection" in crash.error
    assert "flaky: crashing now" in crash.error  # the server's stderr, from its log
    assert after.success and after.result != before.result
    assert (az_home / "mcp" / "logs" / "srv.log").exists()


@pytest.mark.slow
def test_hanging_call_times_out_and_the_server_is_replaced(az_home: Path) -> None:
    c = client([FLAKY], az_home, timeout=2)

    async def go():
        try:
            first = await c.call_tool("pid")
            t0 = time.perf_counter()
            hang = await c.call_tool("hang", {"seconds": 600})
            took = time.perf_counter() - t0
            after = await c.call_tool("pid")
            return first, hang, took, after
        finally:
            await c.aclose()

    first, hang, took, after = run(go)
    assert not hang.success and "timed out after 2 s" in hang.error
    assert took < 6
    assert after.success and after.result != first.result
    deadline = time.time() + 10
    while pid_alive(int(first.result)) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(int(first.result)), "the hung server was not stopped"


def test_per_call_timeout_overrides_the_server_default(az_home: Path) -> None:
    c = client([FLAKY], az_home, timeout=60)

    async def go():
        try:
            return await c.call_tool("hang", {"seconds": 600}, timeout=1)
        finally:
            await c.aclose()

    r = run(go)
    assert not r.success and "timed out after 1 s" in r.error


def test_tool_exception_unknown_tool_and_bad_arguments_are_tool_errors(az_home: Path) -> None:
    c = client([FLAKY], az_home)

    async def go():
        try:
            return (
                await c.call_tool("fail"),
                await c.call_tool("no_such_tool"),
                await c.call_tool("echo", {"text": 5}),
                await c.call_tool("echo", {"text": "still fine"}),
            )
        finally:
            await c.aclose()

    fail, unknown, bad_args, ok = run(go)
    assert not fail.success and "fail" in fail.error
    assert not unknown.success and "no_such_tool" in unknown.error
    assert not bad_args.success
    assert ok.success and ok.result == "still fine"


def test_server_that_dies_at_start_reports_its_stderr(az_home: Path) -> None:
    c = client([FLAKY, "die-at-start"], az_home)
    r = run(lambda: c.call_tool("echo", {"text": "x"}))
    assert not r.success
    assert "could not start" in r.error
    assert "FLAKY_TOKEN is missing" in r.error


def test_cancelled_start_leaves_no_process(az_home: Path) -> None:
    """A caller that gives up while the server starts (Ctrl-C, an engine timeout)."""
    import os

    c = client([FLAKY, "hang-at-start"], az_home, startup_timeout=60)

    async def go():
        call = asyncio.create_task(c.call_tool("echo", {"text": "x"}))
        await asyncio.sleep(1.0)
        kids = children_of(os.getpid())
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        return kids

    kids = run(go)
    assert kids, "the server should have been running"
    deadline = time.time() + 10
    while any(pid_alive(p) for p in kids) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in kids)


def test_missing_command_is_a_tool_error(az_home: Path) -> None:
    c = MCPClient("ghost", ServerConfig(command="/nonexistent/mcp-server"), az_home)
    r = run(lambda: c.call_tool("anything"))
    assert not r.success
    assert "command not found" in r.error and "/nonexistent/mcp-server" in r.error


@pytest.mark.slow
def test_server_that_never_answers_the_handshake_times_out(az_home: Path) -> None:
    c = client([FLAKY, "hang-at-start"], az_home, startup_timeout=1.5)
    t0 = time.perf_counter()
    r = run(lambda: c.call_tool("echo", {"text": "x"}))
    assert not r.success and "handshake within 1.5 s" in r.error
    assert time.perf_counter() - t0 < 10


def test_malformed_answers_are_tool_errors(az_home: Path) -> None:
    c = client([RAW], az_home, timeout=2)

    async def go():
        try:
            return (
                await c.call_tool("bad_content"),
                await c.call_tool("not_a_result"),
                await c.call_tool("echo"),
            )
        finally:
            await c.aclose()

    bad, not_result, ok = run(go)
    assert not bad.success and "malformed" in bad.error and "text" in bad.error
    # the SDK drops a response it cannot parse, so the call ends by timing out
    assert not not_result.success and "timed out" in not_result.error
    assert ok.success and ok.result == "fine"


def test_env_is_passed_and_secrets_are_expanded(az_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("AZ_MCP_TEST_SECRET", "s3cret")
    c = client([FLAKY], az_home, env={"GREETING": "hi", "TOKEN": "${AZ_MCP_TEST_SECRET}"})
    missing = client([FLAKY], az_home, env={"TOKEN": "${AZ_MCP_TEST_UNSET_VAR}"})

    async def go():
        try:
            return await c.call_tool("env", {"name": "GREETING"}), await c.call_tool(
                "env", {"name": "TOKEN"}
            )
        finally:
            await c.aclose()

    greeting, token = run(go)
    assert greeting.result == "hi" and token.result == "s3cret"
    r = run(lambda: missing.call_tool("echo", {"text": "x"}))
    assert not r.success and "AZ_MCP_TEST_UNSET_VAR" in r.error


def test_output_limit_cuts_long_text(az_home: Path) -> None:
    c = client([FLAKY], az_home)

    async def go():
        try:
            return await c.call_tool("echo", {"text": "x" * 5000}, output_limit=300)
        finally:
            await c.aclose()

    r = run(go)
    assert r.success
    assert len(r.result.encode()) < 400 and "more bytes cut" in r.result


def test_streamable_http_server(az_home: Path) -> None:
    """A client for a `url` server: az's own server over HTTP, started here."""
    from mcp_helpers import http_server

    with http_server(az_home, ["--approve", "read-only"]) as url:
        c = MCPClient("remote", ServerConfig(url=url, timeout=20), az_home)

        async def go():
            try:
                return await c.list_tools(), await c.call_tool("demo.echo", {"text": "over http"})
            finally:
                await c.aclose()

        tools, r = run(go)
    assert "demo.echo" in {t["name"] for t in tools}
    assert r.success and r.result == "over http"


def test_unreachable_http_server_is_a_tool_error(az_home: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = MCPClient("remote", ServerConfig(url=f"http://127.0.0.1:{port}/mcp", timeout=5), az_home)
    r = run(lambda: c.call_tool("anything"))
    assert not r.success and "could not start" in r.error
    assert sys.modules.get("az_mcp.client") is not None
