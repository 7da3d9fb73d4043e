"""Shared fixtures: an isolated az home per test and a runner for the real ``az``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def az_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh AZ_HOME for this test; the plugin host and storage are reset around it."""
    from az_os import drivers, plugins

    home = tmp_path / "az-home"
    home.mkdir()
    monkeypatch.setenv("AZ_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("AZ_") and "__" in var:
            monkeypatch.delenv(var)
    plugins.reset_host()
    drivers.close_all()
    yield home
    drivers.close_all()
    plugins.reset_host()


class AzResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"<az exit={self.returncode} stdout={self.stdout[-500:]!r} stderr={self.stderr[-500:]!r}>"


def run_az(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 300,
    input: str | None = None,
) -> AzResult:
    """Run the installed ``az`` as a user would (a real process, real entry points)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("COLUMNS", "200")
    proc = subprocess.run(
        [sys.executable, "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        input=input,
    )
    return AzResult(proc)


@pytest.fixture
def az(az_home: Path):  # type: ignore[no-untyped-def]
    """``az(*args, env=None, cwd=None)`` runs the real CLI with this test's AZ_HOME."""

    def _run(*args: str, env: dict[str, str] | None = None, **kw: Any) -> AzResult:
        e = {"AZ_HOME": str(az_home)}
        e.update(env or {})
        return run_az(*args, env=e, **kw)

    return _run


def has_plugin(name: str) -> bool:
    """Whether an ``az`` entry point called ``name`` is installed."""
    from importlib.metadata import entry_points

    return any(ep.name == name for ep in entry_points(group="az"))


def has_storage() -> bool:
    from az_os.drivers import storage_backends

    return "sqlite" in storage_backends()
