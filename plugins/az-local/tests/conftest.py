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


@pytest.fixture(autouse=True)
def _pin_smollm2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the plugin's plumbing on the small bundled model:
    an installed model pack (the 1.5B Qwen) must not become their model.
    ``models.default`` is pinned to SmolLM2 (after az_home cleared ``AZ_*``);
    tests about the default itself unset it."""
    if "az_home" in request.fixturenames:
        request.getfixturevalue("az_home")
    monkeypatch.setenv("AZ_MODELS__DEFAULT", "local/smollm2-135m-instruct")


def packs_installed() -> bool:
    """Whether a model pack (entry point group az.local_models) is installed."""
    from importlib.metadata import entry_points

    return bool(list(entry_points(group="az.local_models")))
