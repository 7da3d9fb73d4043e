"""Fixtures for az-local: an isolated az home, the real embedded model, and
a runner for the real ``az`` executable."""

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
    """A fresh AZ_HOME; the plugin host and storage are reset around the test."""
    from az_os import drivers, plugins

    home = tmp_path / "az-home"
    home.mkdir()
    monkeypatch.setenv("AZ_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("AZ_") and var != "AZ_HOME":
            monkeypatch.delenv(var)
    plugins.reset_host()
    drivers.close_all()
    yield home
    drivers.close_all()
    plugins.reset_host()


@pytest.fixture
def model(az_home: Path) -> Any:
    """The embedded model as the kernel finds it (``local/smollm2-135m-instruct``)."""
    from az_os.plugins import get_host

    m = get_host().find_model("local/smollm2-135m-instruct")
    ok, reason = m.usable()
    assert ok, reason
    return m


class AzResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        out, err = self.stdout[-500:], self.stderr[-500:]
        return f"<az exit={self.returncode} stdout={out!r} stderr={err!r}>"


def run_az(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> AzResult:
    """Run the installed ``az`` in a real process (real entry points)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("COLUMNS", "200")
    proc = subprocess.run(
        [sys.executable, "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return AzResult(proc)
