"""Fixtures: a private AZ_HOME, a real temp workspace, and the tools as the host registers them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from az_os import drivers, plugins
from az_os.config import AzConfig
from az_os.tools import Tool, ToolContext
from az_os.types import ToolResult


@pytest.fixture(autouse=True)
def az_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "az-home"
    home.mkdir()
    monkeypatch.setenv("AZ_HOME", str(home))
    monkeypatch.delenv("AZ_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("AZ_DISABLE_PLUGINS", raising=False)
    plugins.reset_host()
    drivers.close_all()
    yield home
    plugins.reset_host()
    drivers.close_all()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace with a few real files: a.txt, b.py, sub/c.md, .hidden."""
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "a.txt").write_text("alpha\nbeta\ngamma\n", encoding="utf-8")
    (ws / "b.py").write_text("print('hi')\n", encoding="utf-8")
    (ws / "sub" / "c.md").write_text("# title\n", encoding="utf-8")
    (ws / ".hidden").write_text("secret\n", encoding="utf-8")
    return ws


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace, holding a file no tool may touch."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "private.txt").write_text("do not read\n", encoding="utf-8")
    return out


@pytest.fixture
def tools() -> dict[str, Tool]:
    """The tools exactly as the plugin host (entry point 'tools') registers them."""
    return plugins.get_host().tools()


def _make_ctx(workspace: Path, **tools_settings: Any) -> ToolContext:
    config = AzConfig()
    for key, value in tools_settings.items():
        setattr(config.tools, key, value)
    return ToolContext(workspace=workspace, task_id="t-test", approval="auto", config=config)


@pytest.fixture
def make_ctx() -> Callable[..., ToolContext]:
    """make_ctx(workspace, output_limit_bytes=..., shell_timeout_s=...) -> ToolContext."""
    return _make_ctx


@pytest.fixture
def ctx(workspace: Path) -> ToolContext:
    return _make_ctx(workspace)


def _call(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    return asyncio.run(tool.call(args, ctx))


@pytest.fixture
def call() -> Callable[[Tool, dict[str, Any], ToolContext], ToolResult]:
    """call(tool, args, ctx): run a tool the way the engine does (async, worker thread)."""
    return _call
