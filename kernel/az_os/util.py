"""Small helpers every plugin needs, so each does not write its own.

Public and stable for third-party plugins. Everything here is light to
import (the standard library only); :mod:`filelock`, :mod:`psutil` and
az's own config are imported inside the functions that use them.

Files
    :func:`read_json`, :func:`write_json` (atomic: a temporary file then
    ``os.replace``), :func:`file_lock` (a cross-process lock beside a file)
    and :func:`update_json` (read-modify-write under that lock, so two
    processes never lose each other's updates).
Processes
    :func:`process_alive`.
Text for people
    :func:`one_line`, :func:`error_line`, :func:`clip_bytes`,
    :func:`format_usd`.
Tasks
    :data:`PRIORITIES`, :func:`priority_rank`.
Config
    :func:`config_stamp`, :class:`ConfigCache`.
Deprecation
    :func:`warn_deprecated`, :func:`deprecated`, :class:`AzDeprecationWarning`:
    a public name (module attribute, function, method, parameter) is renamed
    or removed only after a release in which it still works and warns with
    the version it goes away in (listed under *Deprecated* in the
    distribution's ``CHANGELOG.md``).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from az_os.files import private_dir, private_file, write_private_text

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from filelock import BaseFileLock

    from az_os.config import AzConfig
    from az_os.types import TaskPriority

T = TypeVar("T")

__all__ = [
    "private_dir",
    "private_file",
    "write_private_text",
    "PID_REUSE_SLACK_S",
    "AzDeprecationWarning",
    "deprecated",
    "deprecation_message",
    "warn_deprecated",
    "PRIORITIES",
    "ConfigCache",
    "clip_bytes",
    "config_stamp",
    "error_line",
    "file_lock",
    "format_usd",
    "one_line",
    "priority_rank",
    "process_alive",
    "read_json",
    "update_json",
    "write_json",
]

# -- files -------------------------------------------------------------------


def read_json(path: Path | str, default: T | None = None) -> Any:
    """The JSON document in ``path``, or ``default`` (``{}`` when not given)
    when the file is missing, unreadable or not valid JSON. Never raises for
    those: caches and state files are rebuilt, not fatal."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {} if default is None else default


def write_json(path: Path | str, data: Any, *, indent: int | None = None) -> None:
    """Write ``data`` as JSON to ``path`` atomically: readers see the old
    file or the new one, never half of one. Creates the parent directory.

    The temporary file is unique per process and thread, so concurrent
    writers never share one; the last ``os.replace`` wins. For updates that
    must not lose another process's changes use :func:`update_json`.
    The file is private (mode 0600): it lives under the az home.
    Raises :class:`OSError` when the directory cannot be written and
    :class:`TypeError` for data JSON cannot encode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(path, json.dumps(data, indent=indent, sort_keys=indent is not None))


def file_lock(path: Path | str, timeout: float = 30.0) -> BaseFileLock:
    """A cross-process lock for ``path`` (a :class:`filelock.FileLock` on
    ``<path>.lock``), re-entrant within a thread. Use it as a context
    manager; waiting longer than ``timeout`` seconds raises
    :class:`filelock.Timeout`."""
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{path}.lock", timeout=timeout)


@contextmanager
def update_json(
    path: Path | str, *, indent: int | None = None, timeout: float = 30.0
) -> Iterator[dict[str, Any]]:
    """Read-modify-write a JSON object file under :func:`file_lock`::

        with update_json(home / "state.json") as data:
            data["count"] = data.get("count", 0) + 1

    ``data`` is ``{}`` when the file is missing or not a JSON object; it is
    written back (atomically) when the block ends without an exception, and
    only if it changed. Raises :class:`filelock.Timeout` after ``timeout``
    seconds waiting for another process.
    """
    with file_lock(path, timeout):
        found = read_json(path)
        data: dict[str, Any] = found if isinstance(found, dict) else {}
        before = json.dumps(data, sort_keys=True, default=str)
        yield data
        if json.dumps(data, sort_keys=True, default=str) != before or not Path(path).exists():
            write_json(path, data, indent=indent)


# -- processes ---------------------------------------------------------------


#: Seconds a process may seem to have started after ``started_before`` and
#: still count (psutil derives start times from the boot time in whole seconds).
PID_REUSE_SLACK_S = 2.0


def process_alive(pid: int | None, *, started_before: float | None = None) -> bool:
    """Whether process ``pid`` on this machine is running.

    False for a missing or non-positive pid, a pid that is gone, a zombie,
    and, when ``started_before`` (unix seconds) is given, a process created
    more than a second after it (the pid was reused by a newer process). A
    process that exists but belongs to another user counts as alive.
    """
    if pid is None or pid <= 0:
        return False
    if pid == os.getpid() and started_before is None:
        return True  # (with started_before, even this process's pid may be a reused one)
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_before is not None and proc.create_time() > started_before + PID_REUSE_SLACK_S:
            return False
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    return True


# -- text for people ---------------------------------------------------------


def one_line(text: Any, limit: int = 160) -> str:
    """``text`` (a string, or anything else as compact JSON) with every run
    of whitespace, newlines included, as one space, cut to at most ``limit``
    characters (ending in ``…`` when cut)."""
    if not isinstance(text, str):
        text = "" if text is None else json.dumps(text, ensure_ascii=False, default=str)
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def error_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as ``Type: message`` on one line (its lines joined with
    ``"; "``), at most ``limit`` characters; for warnings and logs."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    out = f"{type(exc).__name__}: {text}".rstrip(": ")
    return out if len(out) <= limit else out[: limit - 1] + "…"


def clip_bytes(text: str, limit: int) -> tuple[str, int]:
    """At most ``limit`` bytes (UTF-8) of ``text``, never splitting a
    character. Returns ``(kept, dropped)``: ``dropped`` is the number of
    bytes cut (0 when ``text`` fits)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text, 0
    kept = data[:limit].decode("utf-8", errors="ignore")
    return kept, len(data) - len(kept.encode("utf-8"))


def format_usd(amount: float, min_decimals: int = 2) -> str:
    """Money for people: ``$1,234.50`` from one dollar up; below it at least
    ``min_decimals`` decimals and as many more (up to six) as the first
    significant digits need: ``$0.60``, ``$0.0125``, ``$0.000123``. Tables
    pass ``min_decimals=4`` so small amounts line up (``$0.0020``)."""
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    text = f"{amount:.6f}".rstrip("0")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"${amount:.{max(decimals, min_decimals)}f}"


# -- tasks -------------------------------------------------------------------

#: Task priorities from lowest to highest, as strings: the values of
#: :class:`az_os.types.TaskPriority` in its order (a test keeps them equal;
#: written out so importing this module does not import the record types).
PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")


def priority_rank(priority: TaskPriority | str) -> int:
    """0 for ``low`` up to 3 for ``urgent``; for sorting (``key=``) and
    comparing. Raises :class:`ValueError` for an unknown priority, naming
    the allowed ones."""
    value = getattr(priority, "value", priority)
    if value not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r} (expected one of {', '.join(PRIORITIES)})")
    return PRIORITIES.index(value)


# -- config ------------------------------------------------------------------


def config_stamp(env: Mapping[str, str] | None = None) -> tuple[Any, ...]:
    """:func:`az_os.config.config_stamp`: a value that changes when the
    config may have (``AZ_*`` variables, the file, this process's writes)."""
    from az_os.config import config_stamp as stamp

    return stamp(env)


class ConfigCache(Generic[T]):
    """Something built from the config, rebuilt only when
    :func:`config_stamp` changes (thread-safe)::

        _engine = ConfigCache(RoutingEngine.from_config)
        engine = _engine.get()     # built from current_config() on first use

    ``build`` gets the :class:`~az_os.config.AzConfig` in force; what it
    raises (e.g. :class:`~az_os.errors.ConfigError`) propagates and nothing
    is cached.
    """

    def __init__(self, build: Callable[[AzConfig], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: tuple[tuple[Any, ...], T] | None = None

    def get(self) -> T:
        """The value for the config in force, built again if it changed."""
        from az_os.config import current_config

        stamp = config_stamp()
        with self._lock:
            if self._value is None or self._value[0] != stamp:
                self._value = (stamp, self._build(current_config()))
            return self._value[1]

    def set(self, value: T) -> None:
        """Use ``value`` until the config next changes."""
        with self._lock:
            self._value = (config_stamp(), value)

    def clear(self) -> None:
        """Forget the value (tests, after changing ``AZ_HOME``)."""
        with self._lock:
            self._value = None


# -- deprecation ---------------------------------------------------------------
F = TypeVar("F", bound=Callable[..., Any])


class AzDeprecationWarning(DeprecationWarning):
    """A public az name that still works but goes away in ``removed_in``."""


def deprecation_message(name: str, removed_in: str, instead: str | None = None) -> str:
    """``"NAME is deprecated and will be removed in az REMOVED_IN; use INSTEAD"``."""
    text = f"{name} is deprecated and will be removed in version {removed_in}"
    return f"{text}; use {instead} instead" if instead else text


def warn_deprecated(
    name: str, removed_in: str, instead: str | None = None, *, stacklevel: int = 2
) -> None:
    """Warn (:class:`AzDeprecationWarning`) that ``name`` goes away in
    version ``removed_in``; ``instead`` names the replacement.
    ``stacklevel`` 2 points at the caller of the function that calls this."""
    if not removed_in:
        raise ValueError("removed_in must name a version")
    warnings.warn(
        deprecation_message(name, removed_in, instead),
        AzDeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def deprecated(removed_in: str, instead: str | None = None) -> Callable[[F], F]:
    """Decorator for a function or method: calling it warns as :func:`warn_deprecated`
    with its qualified name, then runs it unchanged."""

    def wrap(fn: F) -> F:
        name = f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            warn_deprecated(name, removed_in, instead, stacklevel=2)
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
