"""Installed entry points, read once per process.

Reading every distribution's metadata costs 10-20 ms with a few hundred
packages installed, so the plugin host (group ``az``), the config's section
declarations (``az.config``) and the backend groups share one scan.
"""

from __future__ import annotations

import os
from typing import Any

#: The group of plugins themselves: ``[project.entry-points.az] name = "package.module"``.
ENTRY_POINT_GROUP = "az"

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


def split_env(name: str) -> list[str] | None:
    """``$name`` as a comma-separated list (blanks dropped); ``None`` when unset."""
    value = os.environ.get(name)
    if value is None:
        return None
    return [p.strip() for p in value.split(",") if p.strip()]


def plugin_enabled(ep: Any) -> bool:
    """Whether ``AZ_LOAD_PLUGINS``/``AZ_DISABLE_PLUGINS`` let the plugin of
    entry point ``ep`` load (matched by entry-point or distribution name; the
    distribution's metadata is read only when one of them is set)."""
    allow = split_env("AZ_LOAD_PLUGINS")
    block = set(split_env("AZ_DISABLE_PLUGINS") or [])
    if allow is None and not block:
        return True
    dist = getattr(ep, "dist", None)
    names = {ep.name, (dist.metadata["Name"] if dist is not None else None) or ep.name}
    return (allow is None or bool(names & set(allow))) and not names & block
