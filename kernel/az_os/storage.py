"""The storage contract: everything az keeps about tasks.

A backend is a distribution exposing a :class:`Storage` subclass under the
``az.storage`` entry-point group (``sqlite`` is the default, from
``az-sqlite``). The kernel picks one by name (``storage.backend`` in config)
through :func:`az_os.drivers.get_storage`, so only the chosen backend is
imported.

Methods are synchronous and thread-safe; async code uses
:class:`TaskRepository`, which runs them in worker threads so the event loop
never blocks. All timestamps are timezone-aware UTC datetimes; money is USD.

Backends raise :class:`~az_os.errors.StorageError` (one-line message) when
the database cannot be opened or written, and
:class:`~az_os.errors.NotFoundError` for an unknown task id where a method
says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from az_os.threads import in_thread
from az_os.types import (
    CostRecord,
    LogRecord,
    Task,
    TaskPriority,
    TaskStatus,
    ToolUsage,
    Turn,
)


class Storage(ABC):
    """A storage backend. Constructed as ``Backend(config)`` with the
    :class:`~az_os.config.AzConfig` in force."""

    #: Human-readable location (a file path or a URL without password).
    location: str = ""

    # -- lifecycle -------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional for backends
        """Release connections. Safe to call twice."""

    # -- tasks -----------------------------------------------------------
    @abstractmethod
    def create_task(self, task: Task) -> Task:
        """Insert a new task; returns it as stored. Duplicate id → StorageError."""

    @abstractmethod
    def get_task(self, task_id: str) -> Task | None:
        """The task with this id (or unique id prefix), or None."""

    @abstractmethod
    def update_task(self, task: Task) -> Task:
        """Write every field of ``task`` (``updated_at`` set to now).
        Unknown id → NotFoundError."""

    @abstractmethod
    def list_tasks(
        self,
        status: TaskStatus | None = None,
        priority: TaskPriority | None = None,
        limit: int = 20,
        offset: int = 0,
        parent_task_id: str | None = None,
    ) -> list[Task]:
        """Tasks matching the filters, newest first."""

    @abstractmethod
    def count_tasks(
        self, status: TaskStatus | None = None, priority: TaskPriority | None = None
    ) -> int:
        """How many tasks match the filters."""

    @abstractmethod
    def delete_task(self, task_id: str) -> bool:
        """Delete a task and everything recorded for it; False if unknown."""

    # -- the conversation ------------------------------------------------
    @abstractmethod
    def add_turn(self, turn: Turn) -> None:
        """Append one ReAct turn (committed before returning).

        This and the other per-task writes (``add_log``, ``add_cost``,
        ``save_state``, ``record_tool_usage``) raise NotFoundError for an
        unknown task id."""

    @abstractmethod
    def list_turns(self, task_id: str) -> list[Turn]:
        """The task's turns in order of ``index``."""

    # -- logs ------------------------------------------------------------
    @abstractmethod
    def add_log(self, record: LogRecord) -> None:
        """Append one log row."""

    @abstractmethod
    def list_logs(
        self,
        task_id: str | None = None,
        level: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[LogRecord]:
        """Log rows, oldest first. ``level`` is a minimum (``warning``
        includes ``error``). With ``limit``, the newest ``limit`` rows are
        kept (like ``tail -n``), still oldest first."""

    # -- costs -----------------------------------------------------------
    @abstractmethod
    def add_cost(self, record: CostRecord) -> None:
        """Append one cost row. (Task totals are kept by the engine through
        :meth:`update_task`, not here, so nothing is counted twice.)"""

    @abstractmethod
    def list_costs(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        task_id: str | None = None,
    ) -> list[CostRecord]:
        """Cost rows in time order."""

    @abstractmethod
    def total_cost(self, since: datetime | None = None, task_id: str | None = None) -> float:
        """Sum of ``cost_usd`` (USD) of the matching cost rows."""

    # -- tool usage ------------------------------------------------------
    @abstractmethod
    def record_tool_usage(self, task_id: str | None, tool_name: str, duration_ms: float) -> None:
        """Add one invocation of ``tool_name`` lasting ``duration_ms`` ms."""

    @abstractmethod
    def list_tool_usage(self, task_id: str | None = None) -> list[ToolUsage]:
        """Per-task (or, without ``task_id``, summed over tasks) tool usage."""

    # -- state -----------------------------------------------------------
    @abstractmethod
    def save_state(
        self, task_id: str, state: dict[str, Any], checkpoint_id: str | None = None
    ) -> None:
        """Replace the task's resumable state (a JSON object)."""

    @abstractmethod
    def load_state(self, task_id: str) -> dict[str, Any] | None:
        """The task's saved state, or None."""

    # -- recovery --------------------------------------------------------
    @abstractmethod
    def mark_interrupted(self) -> list[str]:
        """Mark ``running`` tasks whose process (pid on this host) is gone as
        ``interrupted``; returns their ids."""


class TaskRepository:
    """The design brief's async task API over any :class:`Storage`.

    Each method runs the storage call in a worker thread, so
    ``await repo.list(...)`` never blocks the event loop.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def create(self, task: Task) -> Task:
        """Insert ``task``; returns it as stored."""
        return await in_thread(self.storage.create_task, task)

    async def get(self, task_id: str) -> Task | None:
        """The task, or None."""
        return await in_thread(self.storage.get_task, task_id)

    async def update(self, task: Task) -> Task:
        """Write the task back; NotFoundError if it was deleted."""
        return await in_thread(self.storage.update_task, task)

    async def list(
        self,
        status: TaskStatus | None = None,
        priority: TaskPriority | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks matching the filters, newest first."""
        return await in_thread(self.storage.list_tasks, status, priority, limit, offset)

    async def delete(self, task_id: str) -> bool:
        """Delete the task and its records; False if unknown."""
        return await in_thread(self.storage.delete_task, task_id)
