"""The az_home fixture: AZ_HOME in a temp dir, with a fresh plugin host and storage."""

from __future__ import annotations

from pathlib import Path

import pytest


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
