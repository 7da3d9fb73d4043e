"""The design brief's Python API module paths, resolved lazily.

``az_os.core.interfaces``, ``az_os.ai.interfaces`` and
``az_os.data.interfaces`` are thin modules: each public name is imported on
first attribute access from the kernel module or the plugin that owns it
(``StateManager`` from az-git, ``CostTracker`` from az-cost, ...). Importing
the module itself never imports a plugin, and a name whose plugin is not
installed raises :class:`MissingPluginError` (an ``ImportError`` and an
:class:`~az_os.errors.PluginMissingError`) with a one-line message naming
the distribution to install::

    StateManager needs the az-git plugin: pip install az-git

This is the one place where kernel code imports plugin modules: a
documented public-API exception to "the kernel never imports a plugin"
(only by name, only on access, never at import).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from az_os.errors import PluginMissingError

__all__ = ["Export", "MissingPluginError", "lazy_module"]


class MissingPluginError(PluginMissingError, ImportError):
    """A name of the Python API whose plugin is not installed, or whose
    installed plugin does not provide it yet. The message is one line and
    names the distribution (``pip install az-git``)."""

    def __init__(self, message: str, *, distribution: str | None = None) -> None:
        PluginMissingError.__init__(self, message)
        self.msg = message
        self.distribution = distribution


class Export(NamedTuple):
    """Where a public name lives: ``module`` and ``attribute`` in it, and
    ``distribution``, the pip name that installs ``module`` (``None``: the
    kernel, always installed). A renamed name stays as an export with
    ``removed_in`` (the version it goes away in) and ``instead`` (its new
    name): each access warns (:func:`az_os.util.warn_deprecated`)."""

    module: str
    attribute: str
    distribution: str | None = None
    removed_in: str | None = None
    instead: str | None = None


def resolve(name: str, export: Export) -> Any:
    """Import ``export.module`` and return its ``export.attribute``.

    Raises :class:`MissingPluginError` when the owning plugin is not
    installed (its top-level package cannot be found) or does not define
    the attribute. Any other import failure (a plugin's own broken
    dependency) propagates unchanged: it is a bug to see, not a missing
    install."""
    dist = export.distribution
    top = export.module.split(".", 1)[0]
    try:
        module = importlib.import_module(export.module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if dist is not None and (missing == top or missing.startswith(top + ".")):
            raise MissingPluginError(
                f"{name} needs the {dist} plugin: pip install {dist}", distribution=dist
            ) from None
        raise
    try:
        return getattr(module, export.attribute)
    except AttributeError:
        owner = dist or "az-os"
        raise MissingPluginError(
            f"{name} is not provided by the installed {owner}; "
            f"upgrade it: pip install --upgrade {owner}",
            distribution=owner,
        ) from None


def lazy_module(
    module_name: str, exports: Mapping[str, Export], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a module whose names are ``exports``.

    A resolved name is cached in ``namespace`` (the module's globals), so
    later lookups cost a dict access. Unknown names raise AttributeError as
    for any module."""

    def __getattr__(name: str) -> Any:
        export = exports.get(name)
        if export is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = resolve(name, export)
        if export.removed_in:
            from az_os.util import warn_deprecated

            warn_deprecated(f"{module_name}.{name}", export.removed_in, export.instead)
        else:
            namespace[name] = value  # deprecated names are not cached: each use warns
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
