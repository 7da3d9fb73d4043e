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
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from az_os.errors import StorageError
from az_os.threads import in_thread
from az_os.types import (
    Checkpoint,
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

    # -- checkpoints -----------------------------------------------------
    # Not abstract, so backends written before checkpoints existed still load;
    # they refuse with a one-line StorageError until they implement these.
    def _no_checkpoints(self) -> StorageError:
        return StorageError(
            f"storage backend {type(self).__name__} does not keep checkpoints "
            "(it needs add_checkpoint, list_checkpoints, get_checkpoint, delete_checkpoint)"
        )

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store one checkpoint record. Unknown ``task_id`` → NotFoundError;
        a duplicate id → StorageError."""
        raise self._no_checkpoints()

    def list_checkpoints(
        self,
        task_id: str | None = None,
        workspace: str | None = None,
        limit: int | None = None,
    ) -> list[Checkpoint]:
        """Checkpoints matching the filters (``workspace`` is an exact
        absolute path), newest first; at most ``limit``."""
        raise self._no_checkpoints()

    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint with this id (or unique id prefix), or None."""
        raise self._no_checkpoints()

    def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """Delete one checkpoint record; False if unknown."""
        raise self._no_checkpoints()

    # -- rewinding -------------------------------------------------------
    def delete_turns_after(self, task_id: str, index: int) -> int:
        """Drop the task's turns with ``index`` greater than ``index`` (the
        conversation is rewound so a resume continues from turn
        ``index + 1``); returns how many were dropped. Unknown task →
        NotFoundError."""
        raise StorageError(
            f"storage backend {type(self).__name__} cannot rewind a conversation "
            "(it needs delete_turns_after)"
        )

    # -- recovery --------------------------------------------------------
    @abstractmethod
    def mark_interrupted(self) -> list[str]:
        """Mark ``running`` tasks whose process (pid on this host) is gone as
        ``interrupted``; returns their ids."""

    # -- watching (dashboards, servers) ------------------------------------
    # Not abstract: these defaults work on any backend through the methods
    # above, by reading every task; a backend overrides them with an indexed
    # query (az-sqlite does).
    def list_tasks_updated_since(self, since: datetime, limit: int = 500) -> list[Task]:
        """Tasks whose ``updated_at`` is at or after ``since`` (UTC), the least
        recently updated first, at most ``limit`` of them.

        For polling: keep the largest ``updated_at`` seen and ask again from
        it (a small overlap, and de-duplicating by ``(id, updated_at)``,
        covers writes that commit late)."""
        out: list[Task] = []
        page, offset = 1000, 0
        while True:
            batch = self.list_tasks(limit=page, offset=offset)
            out.extend(t for t in batch if t.updated_at >= since)
            if len(batch) < page:
                break
            offset += page
        out.sort(key=lambda t: t.updated_at)
        return out[:limit]

    def search_tasks(
        self,
        text: str,
        status: TaskStatus | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks whose id, description or model contains ``text``
        (case-insensitive), optionally with ``status``, newest first; the
        page ``offset`` .. ``offset + limit``."""
        needle = text.casefold()
        out: list[Task] = []
        page, start = 1000, 0
        while len(out) < offset + limit:
            batch = self.list_tasks(status=status, limit=page, offset=start)
            out.extend(
                t
                for t in batch
                if needle in t.id.casefold()
                or needle in t.description.casefold()
                or needle in (t.model or "").casefold()
            )
            if len(batch) < page:
                break
            start += page
        return out[offset : offset + limit]

    def count_turns(self, task_ids: Sequence[str]) -> dict[str, int]:
        """The number of stored turns of each task in ``task_ids``
        (0 for a task without turns or an unknown id)."""
        return {task_id: len(self.list_turns(task_id)) for task_id in task_ids}

    # -- several workers, one database (optional) ---------------------------
    # Backends that several processes or hosts share implement these
    # atomically (one transaction each); the default says the backend
    # cannot, so distributed execution refuses to start on it.
    def claim_task(self, task_id: str, owner: str, stale_after_s: float = 30.0) -> bool:
        """Claim ``task_id`` for ``owner`` (a worker id) before running it.

        True when ``owner`` now holds the claim: there was none, ``owner``
        held it already, or the holder's heartbeat is older than
        ``stale_after_s`` seconds (a dead worker; ``attempts`` is counted).
        False when another owner holds a live claim or the task is
        finished (completed, failed, cancelled). Unknown task →
        NotFoundError. Backends without claims raise StorageError."""
        raise StorageError(f"storage backend at {self.location or '?'} cannot claim tasks")

    def heartbeat_claim(self, task_id: str, owner: str) -> bool:
        """Refresh ``owner``'s claim (unix now); False if it lost the claim."""
        raise StorageError(f"storage backend at {self.location or '?'} cannot claim tasks")

    def release_claim(self, task_id: str, owner: str) -> bool:
        """Drop ``owner``'s claim of the task; False if it held none (so of
        several processes releasing one stale claim, exactly one gets True)."""
        raise StorageError(f"storage backend at {self.location or '?'} cannot claim tasks")

    def stale_claims(self, stale_after_s: float = 30.0) -> list[tuple[str, str]]:
        """``(task id, owner)`` of unfinished tasks whose claim's heartbeat is
        older than ``stale_after_s`` seconds (their worker died), oldest first."""
        raise StorageError(f"storage backend at {self.location or '?'} cannot claim tasks")

    def claim_holder(self, task_id: str) -> str | None:
        """The owner (worker id) of the task's claim, or None: never claimed,
        released, or a backend without claims. ``az task cancel`` uses it:
        a claimed task runs in a worker that runs several tasks in one
        process and stops it on the stored ``cancelled`` status, so that
        process is not signalled."""
        return None

    def reserve_budget(
        self,
        task_id: str,
        worst_usd: float,
        *,
        model: str | None = None,
        budget_usd: float | None = None,
        since: datetime | None = None,
        task_cap_usd: float | None = None,
        ttl_s: float = 900.0,
    ) -> BudgetCheck:
        """Check a model call's worst case against the limits and reserve it,
        in one transaction that every process sharing the database
        serialises on, so N workers cannot overspend together.

        Refused (nothing reserved) when the task's recorded cost + ``worst_usd``
        > ``task_cap_usd``, or the cost recorded since ``since`` + other
        tasks' live reservations + ``worst_usd`` > ``budget_usd`` (USD,
        1e-9 slack). Otherwise the task's reservation is replaced by this
        one. Reservations older than ``ttl_s`` seconds, or of a process on
        this host that is gone, are not counted. Backends without it raise
        StorageError."""
        raise StorageError(f"storage backend at {self.location or '?'} cannot reserve budget")

    def release_budget(self, task_id: str) -> None:
        """Drop the task's reservation (its call finished or failed)."""
        raise StorageError(f"storage backend at {self.location or '?'} cannot reserve budget")

    # -- servers: a burst of submissions, pages of a long list (optional) ----
    # The defaults work on any backend through the methods above; SQL
    # backends override them with one transaction and an indexed keyset query.
    def create_tasks_with_state(self, items: Sequence[tuple[Task, dict[str, Any]]]) -> None:
        """Insert new tasks, each with its resumable state (as
        :meth:`save_state`), for a burst of submissions: where the backend
        can, in one transaction, all or none. The default stores them one by
        one and raises the first error. Duplicate id → StorageError."""
        for task, state in items:
            self.create_task(task)
            self.save_state(task.id, state)

    def list_task_page(
        self,
        status: TaskStatus | None = None,
        priority: TaskPriority | None = None,
        limit: int = 20,
        cursor: str | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of tasks matching the filters, newest first (the order of
        :meth:`list_tasks`), as ``(rows, next_cursor)``.

        Each row is a dict of :data:`TASK_PAGE_FIELDS` only (no ``result``,
        no turns): strings, ``status``/``priority`` as their values,
        timestamps as UTC datetimes (None when unset), ``cost_usd`` in USD.
        ``next_cursor`` (opaque) continues after the last row; None when no
        task follows. With ``cursor`` the page starts after the row it was
        made for (``offset`` is ignored), so deep pages cost what the first
        one does where the backend pages by key. Raises ValueError for a
        cursor this backend did not make. No count of matching tasks is made
        (:meth:`count_tasks` gives it)."""
        if cursor is not None:
            if not (cursor.startswith("o") and cursor[1:].isdigit()):
                raise ValueError(f"invalid cursor {cursor!r}")
            offset = int(cursor[1:])
        tasks = self.list_tasks(status, priority, limit + 1, offset)
        rows = [task_page_row(t) for t in tasks[:limit]]
        return rows, f"o{offset + limit}" if len(tasks) > limit else None

    # -- following a conversation (dashboards, servers) ---------------------
    # Not abstract: the default reads every turn through list_turns; a
    # backend overrides it with an indexed query (az_os.sqlstore does).
    def list_turns_after(self, task_id: str, index: int) -> list[Turn]:
        """The task's turns with ``index`` greater than ``index``, in order
        of ``index`` (ascending); empty when there are none or the task id
        is unknown (like :meth:`list_turns`, no NotFoundError).

        ``index`` 0 gives every turn (turn indexes start at 1). For
        following a task while it runs: keep the largest index seen and ask
        again from it, so each turn is read once however long the task
        gets. A turn stored again under an index already seen (a resumed
        task redoing it) is not returned again; re-read with
        :meth:`list_turns` after a rewind (:meth:`delete_turns_after`)."""
        return [t for t in self.list_turns(task_id) if t.index > index]


#: The fields of a row of :meth:`Storage.list_task_page`.
TASK_PAGE_FIELDS = (
    "id",
    "description",
    "status",
    "priority",
    "model",
    "parent_task_id",
    "workspace",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
    "cost_usd",
    "prompt_tokens",
    "completion_tokens",
    "error",
)


def task_page_row(task: Task) -> dict[str, Any]:
    """A task as a :meth:`Storage.list_task_page` row."""
    row = {f: getattr(task, f) for f in TASK_PAGE_FIELDS}
    row["status"] = task.status.value
    row["priority"] = task.priority.value
    return row


class BudgetCheck(msgspec.Struct, kw_only=True):
    """What :meth:`Storage.reserve_budget` found (USD).

    ``ok``: reserved; ``refused``: ``"task_cap"``, ``"budget"`` or None;
    ``spent_usd``: cost recorded since ``since``; ``task_spent_usd``: the
    task's recorded cost; ``reserved_usd``: other tasks' live reservations."""

    ok: bool
    refused: str | None = None
    spent_usd: float = 0.0
    task_spent_usd: float = 0.0
    reserved_usd: float = 0.0


class TaskRepository:
    """An async task API (create, get, list, update ...) over any :class:`Storage`.

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
