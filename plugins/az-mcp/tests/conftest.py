"""Shared fixtures: a temp AZ_HOME, paths of the test servers, a runner for `az`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SERVERS = Path(__file__).parent / "servers"
FLAKY = str(SERVERS / "flaky_server.py")
RAW = str(SERVERS / "raw_server.py")
SERVE_DEMO = str(SERVERS / "serve_demo.py")
PY = sys.executable


@pytest.fixture
def az_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """AZ_HOME in a temp dir, with a fresh plugin host and storage."""
    import az_os.drivers
    import az_os.plugins

    home = tmp_path / "azhome"
    home.mkdir()
    monkeypatch.setenv("AZ_HOME", str(home))
    az_os.plugins.reset_host()
    az_os.drivers.close_all()
    yield home
    az_os.plugins.reset_host()
    az_os.drivers.close_all()


def add_server(name: str, table: dict[str, Any]) -> None:
    """Write [mcp.servers.NAME] into the current AZ_HOME's config.toml."""
    from az_os.config import set_value

    set_value(f"mcp.servers.{name}", table)


def time_server(**extra: Any) -> dict[str, Any]:
    return {"command": PY, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"], **extra}


def flaky_server(mode: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"command": PY, "args": [FLAKY, mode], **extra}


def run_az(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (`python -m az_os.cli`) with the current environment."""
    return subprocess.run(
        [PY, "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
