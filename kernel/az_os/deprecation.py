"""Deprecating public names: a warning that says what replaces a name and
the version it goes away in.

Semantic versioning: a public name (module attribute, class, function,
method, parameter) is renamed or removed only after one minor release in
which it still works and warns with :func:`warn_deprecated`; it goes away
in the next major version (or the next minor one before 1.0). The
change is listed under *Deprecated* in the distribution's ``CHANGELOG.md``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["AzDeprecationWarning", "deprecated", "deprecation_message", "warn_deprecated"]

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
