"""Fixtures for az-local: the real embedded model (az_home and the ``az``
runner come from az_os.testing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def model(az_home: Path) -> Any:
    """The embedded model as the kernel finds it (``local/smollm2-135m-instruct``)."""
    from az_os.plugins import get_host

    m = get_host().find_model("local/smollm2-135m-instruct")
    ok, reason = m.usable()
    assert ok, reason
    return m
