"""Installed entry points, read once per process.

Reading every distribution's metadata costs 10-20 ms with a few hundred
packages installed, so the plugin host (group ``az``), the config's section
declarations (``az.config``) and the backend groups share one scan.
"""

from __future__ import annotations

from typing import Any

_ENTRY_POINTS: Any = None


def installed_entry_points(group: str) -> list[Any]:
    """The installed entry points of ``group`` (``importlib.metadata``);
    every group comes from one scan per process (see :func:`forget`)."""
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        from importlib.metadata import entry_points

        _ENTRY_POINTS = entry_points()
    return list(_ENTRY_POINTS.select(group=group))


def forget() -> None:
    """Scan again on the next call (after installing a distribution)."""
    global _ENTRY_POINTS
    _ENTRY_POINTS = None
