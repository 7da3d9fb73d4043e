"""az-memory's hook implementations (this module imports only the kernel).

* ``az_task_event`` - when a task completes or fails, lessons from its
  transcript (and from ``memory.model`` when set) are written;
* ``az_context`` - relevant lessons (semantic + keyword) go into a new
  task's first prompt, each marked with its task, turn and category.

``az memory`` is declared in :mod:`az_memory.commandlist` (``az.commands``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import Task, TaskEvent

log = logging.getLogger("az.memory")


@hookimpl
def az_task_event(task: Task, event: TaskEvent) -> None:
    """Write lessons when a task ends (completed or failed)."""
    if event.type not in ("completed", "failed"):
        return
    from az_os.errors import AzError

    from az_memory.learn import on_task_end

    try:
        on_task_end(task)
    except AzError as exc:
        log.warning("az-memory: lessons not written: %s", exc)


@hookimpl
def az_context(task: Task, query: str) -> list[str] | None:
    """Lessons from earlier tasks that match this one."""
    from az_os.errors import AzError

    from az_memory.learn import context_lessons

    try:
        return context_lessons(task, query) or None
    except AzError as exc:
        log.warning("az-memory: no lessons in context: %s", exc)
        return None
