"""Checks of command-line options that several commands share.

``az task run`` (kernel), ``az task resume`` and plugins' commands that
create tasks (``az task submit`` of az-celery) take the same ``--approve``
and ``--priority`` options; these functions turn their text into the task's
values, or raise :class:`~az_os.errors.ConfigError` (exit 2) saying what is
allowed::

    --approve must be auto or read-only on a worker, got 'ask'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast, get_args

from az_os.errors import ConfigError
from az_os.types import Approval, TaskPriority

#: Every approval mode, as ``Task.approval`` takes it.
APPROVALS: tuple[str, ...] = get_args(Approval)


def _choices(values: Sequence[str]) -> str:
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]


def approval(
    value: str, allowed: Sequence[str] = APPROVALS, *, option: str = "--approve", where: str = ""
) -> Approval:
    """``value`` as an approval mode, if it is one of ``allowed`` (default:
    ``ask``, ``auto`` and ``read-only``). ``where`` is said after the
    choices (``" on a worker"``). Raises :class:`ConfigError`."""
    if value not in allowed:
        raise ConfigError(f"{option} must be {_choices(list(allowed))}{where}, got '{value}'")
    return cast("Approval", value)


def priority(value: str, *, option: str = "--priority") -> TaskPriority:
    """``value`` (any case) as a :class:`~az_os.types.TaskPriority`.
    Raises :class:`ConfigError` listing the priorities."""
    try:
        return TaskPriority(value.lower())
    except ValueError:
        names = [p.value for p in TaskPriority]
        raise ConfigError(f"{option} must be {_choices(names)}, got '{value}'") from None
