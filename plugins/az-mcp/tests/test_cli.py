"""The `az mcp` commands, run as the real CLI in subprocesses."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from mcp_helpers import FLAKY, PY, add_server, children_of, flaky_server, pid_alive, run_az


@pytest.mark.slow
def test_add_list_tools_call_remove(az_home: Path) -> None:
    r = run_az(
        "mcp",
        "add",
        "time",
        "--timeout",
        "30",
        "--",
        PY,
        "-m",
        "mcp_server_time",
        "--local-timezone",
        "UTC",
    )
    assert r.returncode == 0, r.stderr
    assert "2 tool(s): time.get_current_time, time.convert_time" in r.stdout
    config = (az_home / "config.toml").read_text()
    assert "[mcp.servers.time]" in config and '"mcp_server_time"' in config

    r = run_az("mcp", "list", "--json")
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert row["name"] == "time" and row["status"] == "ok" and row["tools"] == 2
    assert row["transport"] == "stdio" and row["timeout_s"] == 30

    r = run_az("mcp", "tools", "--json")
    tools = {t["name"]: t for t in json.loads(r.stdout)}
    assert tools["time.get_current_time"]["read_only"] is True
    assert tools["time.get_current_time"]["input_schema"]["required"] == ["timezone"]

    r = run_az(
        "mcp", "call", "time", "get_current_time", "--args", '{"timezone": "Asia/Tokyo"}', "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["success"] is True and out["result"]["timezone"] == "Asia/Tokyo"

    r = run_az("mcp", "call", "time", "get_current_time", "--args", '{"timezone": "Asia/Tokyo"}')
    assert r.returncode == 0 and json.loads(r.stdout)["datetime"].endswith("+09:00")

    r = run_az("mcp", "remove", "time")
    assert r.returncode == 0 and "removed" in r.stdout
    assert "mcp_server_time" not in (az_home / "config.toml").read_text()
    assert "time" not in json.loads((az_home / "mcp" / "tools.json").read_text())["servers"]
    r = run_az("mcp", "remove", "time")
    assert r.returncode == 4 and r.stderr.startswith("az: error: no MCP server 'time'")


def test_list_shows_a_broken_servers_error(az_home: Path) -> None:
    add_server("good", flaky_server())
    add_server("broken", flaky_server("die-at-start"))
    add_server("ghost", {"command": "/nonexistent/server"})
    add_server("off", flaky_server(enabled=False))
    r = run_az("mcp", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["good"]["status"] == "ok" and rows["good"]["tools"] >= 5
    assert (
        rows["broken"]["status"] == "error" and "FLAKY_TOKEN is missing" in rows["broken"]["error"]
    )
    assert rows["ghost"]["status"] == "error" and "command not found" in rows["ghost"]["error"]
    assert rows["off"]["status"] == "disabled"
    table = run_az("mcp", "list", "--cached")
    assert "broken" in table.stdout and "error" in table.stdout and "FLAKY_TOKEN" in table.stdout


def test_call_leaves_no_server_process_behind(az_home: Path) -> None:
    add_server("flaky", flaky_server())
    r = run_az("mcp", "call", "flaky", "pid", "--json")
    assert r.returncode == 0, r.stderr
    pid = json.loads(r.stdout)["result"]
    assert isinstance(pid, int)
    assert not pid_alive(pid), "the MCP server outlived 'az mcp call'"


def test_a_servers_own_children_go_with_it(az_home: Path) -> None:
    """A server's grandchildren (npx, shell wrappers) do not outlive az."""
    add_server("flaky", flaky_server())
    r = run_az("mcp", "call", "flaky", "spawn", "--json")
    assert r.returncode == 0, r.stderr
    child = json.loads(r.stdout)["result"]
    assert isinstance(child, int)
    deadline = time.time() + 10
    while pid_alive(child) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(child), "the MCP server's child outlived 'az mcp call'"


def test_interrupted_az_leaves_no_server_behind(az_home: Path) -> None:
    """SIGINT while a call hangs: az exits and its server goes with it."""
    import signal

    add_server("flaky", flaky_server())
    proc = subprocess.Popen(
        [PY, "-m", "az_os.cli", "mcp", "call", "flaky", "hang", "--args", '{"seconds": 600}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = az_home / "mcp" / "logs" / "flaky.log"
    deadline = time.time() + 30
    children: list[int] = []
    while time.time() < deadline and not children:
        time.sleep(0.2)
        children = children_of(proc.pid)
    assert children, "the server did not start"
    time.sleep(1.0)  # let the call reach the server
    proc.send_signal(signal.SIGINT)
    proc.wait(20)
    assert "Traceback" not in proc.stderr.read()
    deadline = time.time() + 10
    while any(pid_alive(p) for p in children) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in children)
    assert log.exists()


@pytest.mark.slow
def test_call_failures_exit_1_with_one_line(az_home: Path) -> None:
    add_server("flaky", flaky_server())
    r = run_az("mcp", "call", "flaky", "fail")
    assert r.returncode == 1 and r.stderr.startswith("az: error: ") and r.stderr.count("\n") == 1
    r = run_az("mcp", "call", "flaky", "crash", "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["success"] is False and "closed the connection" in out["error"]
    r = run_az("mcp", "call", "nowhere", "x")
    assert r.returncode == 4 and "no MCP server 'nowhere'" in r.stderr
    r = run_az("mcp", "call", "flaky", "echo", "--args", "{not json")
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_add_refuses_duplicates_bad_names_and_missing_commands(az_home: Path) -> None:
    assert run_az("mcp", "add", "f", "--no-probe", "--", PY, FLAKY).returncode == 0
    r = run_az("mcp", "add", "f", "--no-probe", "--", PY, FLAKY)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = run_az("mcp", "add", "f", "--force", "--env", "A=1", "--no-probe", "--", PY, FLAKY, "ok")
    assert r.returncode == 0
    assert 'A = "1"' in (az_home / "config.toml").read_text()
    assert run_az("mcp", "add", "a.b", "--", PY).returncode == 2
    r = run_az("mcp", "add", "empty")
    assert r.returncode == 2 and "COMMAND" in r.stderr


def test_add_warns_when_the_server_does_not_start(az_home: Path) -> None:
    r = run_az("mcp", "add", "broken", "--", PY, FLAKY, "die-at-start")
    assert r.returncode == 0
    assert "az: warning: 'broken' does not work yet" in r.stderr and "FLAKY_TOKEN" in r.stderr


def test_az_help_and_plugin_import_do_not_import_the_sdk(az_home: Path) -> None:
    code = (
        "import sys, az_os.cli\n"
        "app = az_os.cli.build_app()\n"
        "import az_mcp.plugin, az_mcp.commands\n"
        "heavy = ('mcp', 'mcp_types', 'httpx2', 'uvicorn', 'starlette')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(bad)\n"
    )
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    r = run_az("mcp", "--help")
    assert r.returncode == 0 and "serve" in r.stdout and "call" in r.stdout
