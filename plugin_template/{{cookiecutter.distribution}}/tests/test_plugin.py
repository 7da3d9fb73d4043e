"""Tests for {{ cookiecutter.distribution }}, run against the installed az."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path


def az(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "az_os.cli", *args], capture_output=True, text=True)


def test_plugin_is_loaded():
    plugins = {p["name"]: p for p in json.loads(az("plugins", "list", "--json").stdout)}
    assert plugins["{{ cookiecutter.plugin_name }}"]["status"] == "loaded"


def test_command_is_listed_without_importing_the_plugin():
    r = az("--help")
    assert r.returncode == 0, r.stderr
    assert "{{ cookiecutter.plugin_name }}" in r.stdout


def test_command(tmp_path, monkeypatch):
    r = az("{{ cookiecutter.plugin_name }}", "greet", "--name", "tester")
    assert r.returncode == 0, r.stderr
    assert "Hello, tester!" in r.stdout


def test_echo_tool_through_the_host(tmp_path: Path):
    from az_os.plugins import get_host
    from az_os.tools import ToolContext

    tool = get_host().tools()["{{ cookiecutter.plugin_name }}.echo"]
    result = asyncio.run(tool.call({"text": "hi"}, ToolContext(workspace=tmp_path)))
    assert result.success and result.result == {"text": "hi"}
