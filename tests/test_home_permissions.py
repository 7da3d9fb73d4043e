"""The az home holds prompts, tool output and config: it and what az writes in
it are private to the user whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import has_storage


def _az(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AZ_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "az_os.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(0o022),  # the usual default: files readable by all
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_and_home_are_private(az_home: Path) -> None:
    home = az_home / "fresh"
    r = _az(home, "config", "set", "agent.max_turns=6")
    assert r.returncode == 0, r.stderr
    assert _mode(home) == 0o700
    assert _mode(home / "config.toml") == 0o600


@pytest.mark.skipif(not has_storage(), reason="needs a storage backend (az-sqlite)")
def test_database_and_its_wal_are_private(az_home: Path) -> None:
    home = az_home / "fresh"
    r = _az(home, "task", "list")
    assert r.returncode == 0, r.stderr
    assert _mode(home) == 0o700
    db = home / "az.db"
    assert db.exists() and _mode(db) == 0o600
    for side in (home / "az.db-wal", home / "az.db-shm"):
        if side.exists():
            assert _mode(side) == 0o600, side
