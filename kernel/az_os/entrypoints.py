"""Installed entry points, read once per process.

Reading every distribution's metadata costs 10-20 ms with a few hundred
packages installed, so the plugin host (group ``az``), the config's section
declarations (``az.config``) and the backend groups share one scan. The
command line's list of commands (groups ``az`` and ``az.commands``) comes
from a cache file kept between processes (:func:`declared_entry_points`),
so ``az --help`` imports no ``importlib.metadata``.
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
    global _ENTRY_POINTS, _DECLARED
    _ENTRY_POINTS = None
    _DECLARED = None


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
    dist_name = ep.dist_name if isinstance(ep, Declared) else _dist_name(ep)
    names = {ep.name, dist_name or ep.name}
    return (allow is None or bool(names & set(allow))) and not names & block


class Declared:
    """An entry point as :func:`declared_entry_points` returns it: ``name``,
    ``value`` (``"module:object"``), ``dist_name`` and :meth:`load`, without
    ``importlib.metadata``."""

    __slots__ = ("dist_name", "name", "value")

    def __init__(self, name: str, value: str, dist_name: str | None) -> None:
        self.name, self.value, self.dist_name = name, value, dist_name

    def load(self) -> Any:
        """Import the module and return the object (the module itself when
        ``value`` names no object), as ``EntryPoint.load`` does."""
        import importlib

        modname, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(modname.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            obj = getattr(obj, part)
        return obj


#: The groups :func:`declared_entry_points` keeps in its cache file.
CACHED_GROUPS = (ENTRY_POINT_GROUP, "az.commands")

_DECLARED: dict[str, list[Declared]] | None = None


def declared_entry_points(group: str) -> list[Declared]:
    """The installed entry points of ``group`` (one of :data:`CACHED_GROUPS`)
    without importing ``importlib.metadata`` (about 20 ms) or scanning every
    distribution (10-20 ms more) when nothing was installed since the last
    scan: the groups are kept in ``<az home>/cache/entry-points-<crc>.json``,
    where the key covers the interpreter and the modification time of every
    ``sys.path`` entry (installing or removing a distribution changes its
    directory's). A cache that cannot be read or written (no az home yet, a
    read-only one) costs a scan, nothing else."""
    global _DECLARED
    if _DECLARED is None:
        key, path = _cache_key()
        data = _read_cache(path, key)
        if data is None:
            data = {
                g: [[ep.name, ep.value, _dist_name(ep)] for ep in installed_entry_points(g)]
                for g in CACHED_GROUPS
            }
            write_cache_file(path, {"key": key, **data})
        _DECLARED = {g: [Declared(*row) for row in data.get(g, [])] for g in CACHED_GROUPS}
    return list(_DECLARED.get(group, []))


def _dist_name(ep: Any) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


def _cache_key() -> tuple[str, str]:
    """The cache's key (the interpreter, and every ``sys.path`` entry with its
    modification time) and the file that holds it: one per interpreter, so
    a new key replaces the old file instead of adding one."""
    import sys
    import zlib

    parts = [sys.executable, sys.version]
    for entry in sys.path:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    key = "\0".join(parts)
    name = f"entry-points-{zlib.crc32(sys.executable.encode()):08x}.json"
    return key, os.path.join(cache_dir(), name)


def cache_dir() -> str:
    """``<az home>/cache``: the az home as :func:`az_os.config.az_home` finds
    it (``$AZ_HOME``, else platformdirs' user data dir), without importing
    the config (tests/test_declared_commands.py checks the two agree)."""
    home = os.environ.get("AZ_HOME")
    if home:
        return os.path.join(os.path.expanduser(home), "cache")
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("az", appauthor=False), "cache")


def read_cache_file(path: str) -> Any:
    """The JSON in cache file ``path``; ``None`` when it is missing or unreadable."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _read_cache(path: str, key: str) -> dict[str, list[list[Any]]] | None:
    data = read_cache_file(path)
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    if any(not isinstance(data.get(g), list) for g in CACHED_GROUPS):
        return None
    return data


def write_cache_file(path: str, data: Any) -> None:
    """Write ``data`` as JSON to cache file ``path`` (atomically: a temporary
    file, then ``os.replace``), in ``<az home>/cache``, made if the az home
    exists; a write the filesystem refuses is skipped."""
    import json

    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        if not os.path.isdir(os.path.dirname(path)):
            os.mkdir(os.path.dirname(path))  # in an existing az home only
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
