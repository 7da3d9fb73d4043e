"""A configured MCP server that never answers must not stall commands that
register tools (``az tools list``, the start of ``az task run``).

Real servers: ``flaky_server.py hang-at-start`` sleeps before the MCP
handshake; ``flaky_server.py ok`` is healthy. The bound checked is generous
(the machine running the tests may be loaded) but far below the hanging
server's ``startup_timeout`` (60 s), which is what a command waited before.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from mcp_helpers import FLAKY, PY, add_server, flaky_server, pid_alive, run_az

STARTUP_TIMEOUT = 60.0
BOUND = 30.0  # seconds: a command's own start-up on a loaded machine plus LIST_WAIT_S


def _cache(home: Path) -> dict[str, Any]:
    return json.loads((home / "mcp" / "tools.json").read_text())["servers"]


def _wait_for(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


def _refresh_done(home: Path, name: str) -> bool:
    try:
        entry = _cache(home).get(name) or {}
    except (OSError, ValueError):
        return False
    return bool(entry) and not entry.get("pending")


def _servers_running(marker: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd and pid_alive(int(pid)):
            out.append(int(pid))
    return out


@pytest.mark.slow
def test_tools_list_does_not_wait_for_a_hanging_server(az_home: Path) -> None:
    add_server("good", flaky_server("ok"))
    add_server("hang", flaky_server("hang-at-start", startup_timeout=STARTUP_TIMEOUT))

    t0 = time.monotonic()
    r = run_az("tools", "list", "--json", timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took < BOUND, f"az tools list took {took:.1f} s"
    warnings = [line for line in r.stderr.splitlines() if "MCP server 'hang'" in line]
    assert len(warnings) == 1 and "not responding" in warnings[0], r.stderr
    names = {t["name"] for t in json.loads(r.stdout)}
    assert "filesystem.read" in names and not any(n.startswith("hang.") for n in names)

    # the refresh in the background caches the healthy server's tools as soon as it answers
    _wait_for(lambda: _refresh_done(az_home, "good"), 120, "the healthy server was never listed")
    assert {t["name"] for t in _cache(az_home)["good"]["tools"]} >= {"echo", "pid"}

    # the next command lists the healthy server's tools at once and still names the slow one
    t0 = time.monotonic()
    r = run_az("tools", "list", "--json", timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took < BOUND, f"az tools list took {took:.1f} s"
    names = {t["name"] for t in json.loads(r.stdout)}
    assert {"good.echo", "good.pid"} <= names, names
    assert "MCP server 'hang' is not responding" in r.stderr, r.stderr
    assert "'good'" not in r.stderr, r.stderr

    # the refresh gives up after the server's startup_timeout and leaves nothing running
    _wait_for(
        lambda: _refresh_done(az_home, "hang"), STARTUP_TIMEOUT + 60, "the refresh never ended"
    )
    entry = _cache(az_home)["hang"]
    assert entry["error"].startswith("not responding") and entry["tools"] == [], entry
    _wait_for(lambda: not _servers_running(f"{FLAKY} hang-at-start"), 30, "server left running")
    _wait_for(lambda: not _servers_running("az_mcp.refresh"), 30, "refresh left running")

    # within the retry window nothing waits for it at all
    t0 = time.monotonic()
    r = run_az("tools", "list", "--json", timeout=120)
    assert r.returncode == 0 and time.monotonic() - t0 < BOUND, r.stderr
    assert "MCP server 'hang' is not responding" in r.stderr
    assert not _servers_running(f"{FLAKY} hang-at-start")


@pytest.mark.slow
def test_task_run_does_not_wait_for_a_hanging_server(
    az_home: Path, tmp_path: Path, scripted_env: Any
) -> None:
    add_server("hang", flaky_server("hang-at-start", startup_timeout=STARTUP_TIMEOUT))
    env = scripted_env([{"answer": "hello"}], plugins="scripted,tools,sqlite,mcp")
    t0 = time.monotonic()
    r = run_az("task", "run", "say hello", "--json", "--workspace", str(tmp_path), env=env)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["result"] == "hello"
    assert took < BOUND, f"az task run took {took:.1f} s"
    assert "MCP server 'hang' is not responding" in r.stderr, r.stderr


@pytest.mark.slow
def test_a_server_that_stops_answering_keeps_its_tools_marked_stale(
    az_home: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "hang-now"
    moody = {"command": PY, "args": [FLAKY, "hang-if-exists", str(marker)]}
    add_server("moody", {**moody, "startup_timeout": STARTUP_TIMEOUT})
    r = run_az("mcp", "tools", "moody", "--json", timeout=120)  # healthy: listed and cached
    assert r.returncode == 0 and '"error"' not in r.stdout, r
    # the same command (same cache key), now given 3 s to answer, and hanging
    add_server("moody", {**moody, "startup_timeout": 3})
    marker.write_text("")
    r = run_az("mcp", "list", "--json", timeout=120)  # asks again: no answer now
    (row,) = json.loads(r.stdout)
    assert row["status"] == "error" and row["error"].startswith("not responding"), row
    entry = _cache(az_home)["moody"]
    assert entry["stale"] and {t["name"] for t in entry["tools"]} >= {"echo", "pid"}

    t0 = time.monotonic()
    r = run_az("tools", "list", "--json", timeout=120)
    assert r.returncode == 0 and time.monotonic() - t0 < BOUND, r.stderr
    tools = {t["name"]: t for t in json.loads(r.stdout)}
    assert tools["moody.echo"]["description"].startswith("[stale: MCP server 'moody'"), tools
    (warning,) = [line for line in r.stderr.splitlines() if "'moody'" in line]
    assert "not responding" in warning and "marked stale" in warning, warning

    marker.unlink()  # it answers again: 'az mcp list' brings it back, no longer stale
    add_server("moody", {**moody, "startup_timeout": STARTUP_TIMEOUT})
    r = run_az("mcp", "list", "--json", timeout=120)
    assert json.loads(r.stdout)[0]["status"] == "ok", r.stdout
    r = run_az("tools", "list", "--json", timeout=120)
    tools = {t["name"]: t for t in json.loads(r.stdout)}
    assert not tools["moody.echo"]["description"].startswith("[stale"), tools
    assert "'moody'" not in r.stderr
