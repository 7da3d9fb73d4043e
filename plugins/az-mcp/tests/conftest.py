"""In-process registration waits for the tool refresh to finish: on a loaded
machine a healthy test server can take longer than the few seconds a user's
command waits (the tests that check that bound run ``az`` in a subprocess)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _patient_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    import az_mcp.bridge

    monkeypatch.setattr(az_mcp.bridge, "LIST_WAIT_S", 120.0)
