"""Fixtures: an isolated az home per test, a real SQLite file, the real ``az``."""

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
    """A fresh AZ_HOME; plugin host and cached storage are reset around the test."""
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


@pytest.fixture
def storage(az_home: Path) -> Iterator[Any]:
    """A SQLiteStorage on ``<az_home>/az.db``, opened as the kernel opens it."""
    from az_os.drivers import get_storage

    yield get_storage()


class AzResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        out, err = self.stdout[-800:], self.stderr[-800:]
        return f"<az exit={self.returncode} stdout={out!r} stderr={err!r}>"


@pytest.fixture
def az(az_home: Path):  # type: ignore[no-untyped-def]
    """``az(*args, input=None)``: run the real CLI in a subprocess with this AZ_HOME."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> AzResult:
        full = dict(os.environ)
        full.update({"AZ_HOME": str(az_home), "COLUMNS": "200"})
        full.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "az_os.cli", *args],
            capture_output=True,
            text=True,
            env=full,
            timeout=120,
            input=input,
        )
        return AzResult(proc)

    return run
