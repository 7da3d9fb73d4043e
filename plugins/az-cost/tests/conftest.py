"""Fixtures for az-cost's tests: an isolated az home with a real SQLite
database (az-sqlite), the local time zone, and the real ``az`` CLI."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from az_os.testing import AzResult, reset_process_state, run_az

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def _has_sqlite() -> bool:
    from az_os.drivers import storage_backends

    return "sqlite" in storage_backends()


requires_sqlite = pytest.mark.skipif(
    not _has_sqlite(),
    reason="needs the az-sqlite storage backend (pip install -e plugins/az-sqlite)",
)


@pytest.fixture
def az_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh AZ_HOME with only az-cost and az-sqlite loaded from entry
    points; the plugin host, storage and az-cost's in-flight reservations
    are reset around the test."""
    from az_cost import budget

    home = tmp_path / "az-home"
    home.mkdir()
    monkeypatch.setenv("AZ_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("AZ_") and "__" in var:
            monkeypatch.delenv(var)
    # Only az-cost and the storage backend: these tests are about az-cost, and
    # must not change when other plugins (routers, context providers) are installed.
    monkeypatch.setenv("AZ_LOAD_PLUGINS", "cost,sqlite")
    reset_process_state()
    budget._inflight.clear()
    yield home
    budget._inflight.clear()
    reset_process_state()


@pytest.fixture
def storage(az_home: Path) -> Any:
    """The real storage backend (SQLite file under AZ_HOME)."""
    if not _has_sqlite():
        pytest.skip("needs the az-sqlite storage backend (pip install -e plugins/az-sqlite)")
    from az_os.drivers import get_storage

    return get_storage()


@pytest.fixture
def local_tz() -> Iterator[str]:
    """Run the test with the local time zone Europe/Berlin (UTC+1, +2 in summer)."""
    zone = "Europe/Berlin"
    if not Path("/usr/share/zoneinfo", zone).exists():
        pytest.skip("no time zone database (apt-get install tzdata)")
    old = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield zone
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture
def az(az_home: Path) -> Any:
    """``az(*args, env=None, scripted=False)`` runs the real CLI in a subprocess
    with this test's AZ_HOME. ``scripted=True`` registers the scripted priced
    model and echo tool first (tests/azcost_support.py)."""

    def run(
        *args: str, env: dict[str, str] | None = None, scripted: bool = False, timeout: float = 120
    ) -> AzResult:
        from az_os import drivers

        drivers.close_all()  # let the subprocess see everything written so far
        full = {"AZ_HOME": str(az_home), "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
        command = [sys.executable, str(HERE / "azcost_support.py")] if scripted else None
        return run_az(*args, env=full, timeout=timeout, command=command)

    return run
