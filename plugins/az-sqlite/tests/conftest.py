"""Fixtures: a real SQLite file (az_home and az come from az_os.testing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def storage(az_home: Path) -> Iterator[Any]:
    """A SQLiteStorage on ``<az_home>/az.db``, opened as the kernel opens it."""
    from az_os.drivers import get_storage

    yield get_storage()
