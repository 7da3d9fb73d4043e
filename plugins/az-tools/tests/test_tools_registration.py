"""The plugin registers its eight tools through the host, with schemas models can use."""

from __future__ import annotations

import subprocess
import sys

import pytest
from az_os.errors import ToolArgumentsError
from az_os.tools import validate_arguments

EXPECTED = {
    "filesystem.list": ("filesystem", True),
    "filesystem.read": ("filesystem", True),
    "filesystem.write": ("filesystem", False),
    "filesystem.copy": ("filesystem", False),
    "shell.execute": ("shell", False),
    "process.list": ("system", True),
    "git.log": ("vcs", True),
}


def test_host_registers_the_builtin_tools(tools):
    assert {
        n: (t.spec.category, t.spec.read_only) for n, t in tools.items() if n in EXPECTED
    } == EXPECTED
    for name in EXPECTED:
        assert tools[name].spec.plugin == "tools"  # the entry point name, filled in by the host


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schemas_are_closed_objects_with_described_properties(tools, name):
    spec = tools[name].spec
    schema = spec.input_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    for key, prop in schema["properties"].items():
        assert prop.get("description"), f"{name}.{key} has no description"
        assert prop.get("type") in {"string", "integer", "number", "boolean", "object"}
    # MCP and OpenAI shapes both carry the same schema
    assert spec.to_mcp()["inputSchema"] == schema
    assert spec.to_openai()["function"]["parameters"] == schema


def test_validate_arguments_fills_defaults_and_rejects_bad_calls(tools):
    spec = tools["filesystem.list"].spec
    assert validate_arguments(spec, {}) == {
        "path": ".",
        "recursive": False,
        "include_hidden": False,
    }
    with pytest.raises(ToolArgumentsError, match="unknown argument 'dir'"):
        validate_arguments(spec, {"dir": "."})
    with pytest.raises(ToolArgumentsError, match="'recursive' must be boolean"):
        validate_arguments(spec, {"recursive": "yes"})
    read = tools["filesystem.read"].spec
    with pytest.raises(ToolArgumentsError, match="missing required argument 'path'"):
        validate_arguments(read, {})
    with pytest.raises(ToolArgumentsError, match="'start_line' must be integer"):
        validate_arguments(read, {"path": "a", "start_line": "2"})
    shell = tools["shell.execute"].spec
    with pytest.raises(ToolArgumentsError, match="'timeout' must be number"):
        validate_arguments(shell, {"command": "ls", "timeout": True})
    assert validate_arguments(shell, {"command": "ls", "timeout": 2})["timeout"] == 2


def test_bad_arguments_become_a_failed_result_not_an_exception(tools, ctx, call):
    res = call(tools["filesystem.write"], {"path": "x.txt"}, ctx)
    assert res.success is False
    assert "missing required argument 'content'" in res.error
    assert "\n" not in res.error
    res = call(tools["shell.execute"], {"command": "true", "env": {"A": {"nested": 1}}}, ctx)
    assert res.success is False and "argument 'env.A' must be string" in res.error


def test_plugin_module_imports_without_psutil_or_the_tool_modules():
    code = (
        "import sys, az_tools.plugin\n"
        "mods = ('psutil', 'az_tools.shell', 'az_tools.filesystem')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
