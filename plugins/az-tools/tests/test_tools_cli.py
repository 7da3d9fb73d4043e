"""az tools list / info, run as the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def az(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(env_extra or {})
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_list_json(az_home):
    out = az("tools", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert {
        "filesystem.copy",
        "filesystem.list",
        "filesystem.read",
        "filesystem.write",
        "shell.execute",
        "process.list",
    } <= set(rows)
    assert rows["shell.execute"] == {
        "name": "shell.execute",
        "category": "shell",
        "read_only": False,
        "plugin": "tools",
        "distribution": "az-tools",
        "description": rows["shell.execute"]["description"],
    }
    assert rows["filesystem.read"]["read_only"] is True
    assert rows["process.list"]["category"] == "system"


def test_list_category_and_table(az_home):
    out = az("tools", "list", "--category", "filesystem", "--json")
    assert [r["name"] for r in json.loads(out.stdout)] == [
        "filesystem.copy",
        "filesystem.list",
        "filesystem.read",
        "filesystem.search",
        "filesystem.write",
    ]
    out = az("tools", "list")
    assert out.returncode == 0
    for name in ("filesystem.write", "shell.execute", "process.list"):
        assert name in out.stdout
    assert "az-tools" in out.stdout
    out = az("tools", "list", "--category", "nope")
    assert out.returncode == 4
    assert out.stderr.strip() == (
        "az: error: no tools in category 'nope' (categories: ai, filesystem, shell, system, vcs)"
    )


def test_info_for_a_tool(az_home):
    for args in (("filesystem.read",), ("--name", "filesystem.read")):
        out = az("tools", "info", *args, "--json")
        assert out.returncode == 0, out.stderr
        info = json.loads(out.stdout)
        assert info["name"] == "filesystem.read" and info["plugin"] == "tools"
        assert info["input_schema"]["required"] == ["path"]
        assert info["input_schema"]["properties"]["encoding"]["default"] == "utf-8"
    out = az("tools", "info", "shell.execute")
    assert out.returncode == 0
    assert "needs approval" in out.stdout and "timeout" in out.stdout and "az-tools" in out.stdout
    assert "sandbox: " in out.stdout and "process_limit: " in out.stdout
    out = az(
        "tools", "info", "shell.execute", "--json", env_extra={"AZ_TOOLS__SHELL__SANDBOX": "none"}
    )
    status = json.loads(out.stdout)["status"]
    assert (
        status["sandbox"] == "none" and status["sandbox_reason"] == 'tools.shell.sandbox = "none"'
    )


def test_info_for_a_category(az_home):
    out = az("tools", "info", "--name", "filesystem", "--json")
    data = json.loads(out.stdout)
    assert data["category"] == "filesystem"
    assert [t["name"] for t in data["tools"]] == [
        "filesystem.copy",
        "filesystem.list",
        "filesystem.read",
        "filesystem.search",
        "filesystem.write",
    ]
    assert all("input_schema" in t for t in data["tools"])
    out = az("tools", "info", "filesystem")
    assert out.stdout.count("plugin: tools") == 5


def test_unknown_name_suggests(az_home):
    out = az("tools", "info", "filesystem.reed")
    assert out.returncode == 4
    assert "did you mean filesystem.read" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_without_a_tool_plugin_lists_the_kernels_tools_and_says_what_to_install(az_home):
    out = az("tools", "list", "--json", env_extra={"AZ_LOAD_PLUGINS": ""})
    assert out.returncode == 0, out.stderr
    assert [t["name"] for t in json.loads(out.stdout)] == ["aichat.complete"]
    assert out.stderr.strip().splitlines() == [
        "az: only the kernel's own tools are installed (aichat.complete); pip install az-tools "
        "(filesystem, shell and process tools) or az-mcp (tools from MCP servers)"
    ]
    out = az("tools", "info", "aichat.complete", env_extra={"AZ_LOAD_PLUGINS": ""})
    assert out.returncode == 0 and "aichat.complete" in out.stdout
    out = az("tools", "info", "filesystem.read", env_extra={"AZ_LOAD_PLUGINS": ""})
    assert out.returncode == 3
    assert "only the kernel's own tools are installed; pip install az-tools" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
