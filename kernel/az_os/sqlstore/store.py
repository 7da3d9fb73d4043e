"""``SQLStorage``: the kernel's :class:`~az_os.storage.Storage` over the
shared peewee models (:mod:`az_os.sqlstore.schema`), for any database peewee
speaks.

A backend subclasses it, connects ``self.db`` (a peewee database) and calls
:meth:`SQLStorage.bind` in its ``__init__``, then migrates with its own
:class:`~az_os.sqlstore.migrations.MigrationRunner`. It may override:

* :data:`SQLStorage.driver_errors`: the driver's exception base classes
  besides peewee's, turned into :class:`~az_os.errors.StorageError`;
* :meth:`SQLStorage._error`: the one-line message for a database error;
* :data:`SQLStorage.insertion_order`: SQL for the order tasks were inserted
  in (``rowid`` on SQLite, ``seq`` on PostgreSQL);
* :meth:`SQLStorage._id_prefix`: the condition matching ids by prefix.

Timestamps are stored as unix seconds (floats) and returned as tz-aware UTC
datetimes; a naive datetime given to this module is taken as UTC. Money is
USD, durations milliseconds.

Recovery (:meth:`SQLStorage.mark_interrupted`) judges ``running`` tasks by
the pid and host recorded with them, with psutil (imported when needed).
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from az_os.errors import AzError, NotFoundError, StorageError
from az_os.sqlstore.driverless import peewee as pw
from az_os.sqlstore.schema import bind_models
from az_os.storage import TASK_PAGE_FIELDS, BudgetCheck, Storage
from az_os.types import (
    Checkpoint,
    CostRecord,
    LogRecord,
    Task,
    TaskPriority,
    TaskStatus,
    ToolUsage,
    Turn,
    to_builtins,
    utcnow,
)
from az_os.util import process_alive as _process_alive

LEVELS = ("debug", "info", "warning", "error")
#: USD of floating-point slack in budget comparisons.
EPSILON_USD = 1e-9
FINISHED = (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)

F = TypeVar("F", bound=Callable[..., Any])


def ts(value: datetime | None) -> float | None:
    """A datetime as unix seconds (naive = UTC); None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def dt(value: float | None) -> datetime | None:
    """Unix seconds as a tz-aware UTC datetime; None stays None."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


_ts = ts
_dt = dt


def this_host() -> str:
    """The host name recorded with a running task (``socket.gethostname()``)."""
    return socket.gethostname()


def process_alive(pid: int, last_write: float | None) -> bool:
    """Whether ``pid`` on this host is the process that last wrote the task
    (at ``last_write``, unix s): :func:`az_os.util.process_alive`."""
    return _process_alive(pid, started_before=last_write)


def _parse_cursor(cursor: str) -> tuple[float, int]:
    """``(created_at, insertion order)`` from a :meth:`SQLStorage.list_task_page`
    cursor (``k<unix s>_<n>``); ValueError for anything else."""
    created, sep, pos = cursor[1:].partition("_")
    try:
        if cursor[:1] != "k" or not sep:
            raise ValueError
        return float(created), int(pos)
    except ValueError:
        raise ValueError(f"invalid cursor {cursor!r}") from None


def integrity_kind(exc: BaseException) -> str | None:
    """``"foreign_key"``, ``"unique"`` (also primary key) or None, from an
    integrity error's message (SQLite's and PostgreSQL's wording)."""
    low = str(exc).lower()
    if "foreign key" in low:
        return "foreign_key"
    if "unique" in low or "primary key" in low or "duplicate key" in low:
        return "unique"
    return None


def guard(fn: F) -> F:
    """Turn peewee and driver errors into one-line StorageErrors
    (:meth:`SQLStorage._error`)."""

    @functools.wraps(fn)
    def wrapper(self: SQLStorage, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except AzError:
            raise
        except self.db_errors() as exc:
            raise self._error(_first_cause(exc, self.db_errors())) from exc

    return wrapper  # type: ignore[return-value]


def _first_cause(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException:
    """The earliest database error in ``exc``'s chain of contexts. When SQLite
    has already rolled a transaction back itself (it does on "database or disk
    is full"), the rollback that follows fails with "no transaction is active",
    and that second error would hide the one that says what went wrong."""
    first = exc
    seen = {id(exc)}
    cur = exc.__context__
    while isinstance(cur, kinds) and id(cur) not in seen:
        first = cur
        seen.add(id(cur))
        cur = cur.__context__
    return first


_guard = guard


class SQLStorage(Storage):
    """The storage contract on peewee; see the module docstring for what a
    backend provides. Attributes: ``db`` (the peewee database), ``m`` (the
    bound models), ``location`` (shown in messages; never a password)."""

    db: Any
    m: Any
    #: driver exceptions (besides peewee's) that become StorageError
    driver_errors: tuple[type[BaseException], ...] = ()
    #: SQL for the order tasks were inserted in (ties in created_at)
    insertion_order = "rowid"

    def db_errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions that mean a database error: peewee's and the driver's."""
        return (pw.PeeweeException, *self.driver_errors)

    def bind(self, db: Any) -> None:
        """Use ``db`` (a peewee database) and bind the models to it."""
        self.db = db
        self.m = bind_models(db)

    def _error(self, exc: BaseException) -> StorageError:
        """A one-line StorageError naming the database."""
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return StorageError(f"{self.location}: {msg}")

    def _id_prefix(self, T: Any, prefix: str) -> Any:
        """The condition for ids starting with ``prefix`` (a range, which an
        index serves on a binary collation)."""
        return (T.id >= prefix) & (T.id < prefix + "\U0010ffff")

    def _process_alive(self, pid: int, last_write: float | None) -> bool:
        return process_alive(pid, last_write)

    @contextmanager
    def _serialized(self, key: str) -> Iterator[None]:
        """A transaction that every process sharing the database runs one
        at a time for the same ``key`` (claims of one task, the budget).
        The default is a plain transaction, enough where the database takes
        the write lock when it begins (SQLite's ``BEGIN IMMEDIATE``)."""
        with self.db.atomic():
            yield

    # -- lifecycle -------------------------------------------------------
    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        try:
            if not self.db.is_closed():
                self.db.close()
        except self.db_errors():
            pass

    # -- rows <-> types -------------------------------------------------
    @staticmethod
    def _task_row(task: Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "description": task.description,
            "model": task.model,
            "status": task.status.value,
            "priority": task.priority.value,
            "parent_task_id": task.parent_task_id,
            "created_at": _ts(task.created_at),
            "started_at": _ts(task.started_at),
            "completed_at": _ts(task.completed_at),
            "updated_at": _ts(task.updated_at),
            "result": task.result,
            "error": task.error,
            "cost_usd": task.cost_usd,
            "prompt_tokens": task.prompt_tokens,
            "completion_tokens": task.completion_tokens,
            "workspace": task.workspace,
            "max_turns": task.max_turns,
            "max_cost_usd": task.max_cost_usd,
            "approval": task.approval,
            "pid": task.pid,
            "host": task.host,
        }

    @staticmethod
    def _task(row: dict[str, Any]) -> Task:
        data = dict(row)
        for key in ("created_at", "started_at", "completed_at", "updated_at"):
            data[key] = _dt(data[key])
        return Task.from_dict(data)

    @staticmethod
    def _with_runner(task: Task) -> Task:
        """A running task without pid/host gets this process's, so a crash
        can be told apart from a live run."""
        if task.status == TaskStatus.RUNNING and task.pid is None:
            return task.replace(pid=os.getpid(), host=this_host())
        return task

    # -- tasks -----------------------------------------------------------
    @_guard
    def create_task(self, task: Task) -> Task:
        """Insert a new task; returns it as stored (a ``running`` task without
        ``pid`` gets this process's pid and host). Duplicate id →
        StorageError."""
        task = self._with_runner(task)
        try:
            self.m.Task.insert(self._task_row(task)).execute()
        except pw.IntegrityError as exc:
            kind = integrity_kind(exc)
            if kind == "unique":
                raise StorageError(f"{self.location}: task {task.id} already exists") from None
            if kind == "foreign_key":
                raise NotFoundError(f"no parent task '{task.parent_task_id}'") from None
            raise
        return task

    @_guard
    def create_tasks(self, tasks: list[Task]) -> int:
        """Insert many tasks in one transaction (imports, benchmarks); returns
        how many. All or none are stored. Not part of the contract."""
        rows = [self._task_row(self._with_runner(t)) for t in tasks]
        try:
            self._insert_many("tasks", rows)
        except pw.IntegrityError as exc:
            raise StorageError(f"{self.location}: bulk insert refused: {exc}") from None
        return len(rows)

    @_guard
    def get_task(self, task_id: str) -> Task | None:
        """The task with this id, or the only one whose id starts with
        ``task_id``; None when there is none or the prefix is ambiguous."""
        if not task_id:
            return None
        T = self.m.Task
        row = T.select().where(T.id == task_id).dicts().first()
        if row is None:
            rows = list(T.select().where(self._id_prefix(T, task_id)).limit(2).dicts())
            row = rows[0] if len(rows) == 1 else None
        return None if row is None else self._task(row)

    @_guard
    def update_task(self, task: Task) -> Task:
        """Write every field of ``task`` with ``updated_at`` = now; returns the
        stored copy (the argument is not changed). Unknown id →
        NotFoundError."""
        task = self._with_runner(task).replace(updated_at=utcnow())
        row = self._task_row(task)
        row.pop("id")
        T = self.m.Task
        try:
            n = T.update(row).where(T.id == task.id).execute()
        except pw.IntegrityError as exc:
            if integrity_kind(exc) == "foreign_key":
                raise NotFoundError(f"no parent task '{task.parent_task_id}'") from None
            raise
        if n == 0:
            raise NotFoundError(f"no task '{task.id}'")
        return task

    def _task_filter(self, query: Any, status: Any, priority: Any, parent: str | None) -> Any:
        T = self.m.Task
        if status is not None:
            query = query.where(T.status == TaskStatus(status).value)
        if priority is not None:
            query = query.where(T.priority == TaskPriority(priority).value)
        if parent is not None:
            query = query.where(T.parent_task_id == parent)
        return query

    @_guard
    def list_tasks(
        self,
        status: TaskStatus | None = None,
        priority: TaskPriority | None = None,
        limit: int = 20,
        offset: int = 0,
        parent_task_id: str | None = None,
    ) -> list[Task]:
        """Tasks matching the filters, newest first (``created_at``, then
        insertion order). ``limit`` None or negative means no limit."""
        T = self.m.Task
        query = self._task_filter(T.select(), status, priority, parent_task_id)
        query = query.order_by(T.created_at.desc(), pw.SQL(self.insertion_order).desc())
        if limit is not None and limit >= 0:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        return [self._task(r) for r in query.dicts()]

    @_guard
    def count_tasks(
        self, status: TaskStatus | None = None, priority: TaskPriority | None = None
    ) -> int:
        """How many tasks match the filters."""
        T = self.m.Task
        return int(self._task_filter(T.select(), status, priority, None).count())

    @_guard
    def create_tasks_with_state(self, items: Sequence[tuple[Task, dict[str, Any]]]) -> None:
        """Insert the tasks and their states in one transaction (two
        prepared statements): all or none. Duplicate id → StorageError."""
        if not items:
            return
        now = _ts(utcnow())
        tasks = [self._task_row(self._with_runner(t)) for t, _ in items]
        states = [
            {
                "task_id": t.id,
                "state_json": json.dumps(state, default=str),
                "checkpoint_id": None,
                "updated_at": now,
            }
            for t, state in items
        ]
        try:
            with self.db.atomic():
                self._insert_many("tasks", tasks)
                self._insert_many("task_state", states)
        except pw.IntegrityError as exc:
            if integrity_kind(exc) == "unique":
                raise StorageError(
                    f"{self.location}: a task of this batch already exists"
                ) from None
            if integrity_kind(exc) == "foreign_key":
                raise NotFoundError("no parent task for a task of this batch") from None
            raise

    @_guard
    def list_task_page(
        self,
        status: TaskStatus | None = None,
        priority: TaskPriority | None = None,
        limit: int = 20,
        cursor: str | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Keyset pages (:meth:`Storage.list_task_page`): the cursor is the
        last row's ``(created_at, insertion order)``, so any page is one range
        read of the ``(status|priority,) created_at`` index, whatever its
        depth; only the listed columns are read."""
        T = self.m.Task
        pos = pw.SQL(self.insertion_order)
        cols = [getattr(T, f) for f in TASK_PAGE_FIELDS]
        query = self._task_filter(T.select(*cols, pos), status, priority, None)
        if cursor is not None:
            created, after = _parse_cursor(cursor)
            # the first condition alone is an index range; the second breaks ties
            query = query.where(
                (T.created_at <= created) & ((T.created_at < created) | (pos < after))
            )
        elif offset:
            query = query.offset(offset)
        query = query.order_by(T.created_at.desc(), pos.desc()).limit(limit + 1)
        rows: list[dict[str, Any]] = []
        last: tuple[float, int] | None = None
        for values in query.tuples():
            if len(rows) == limit:
                assert last is not None
                return rows, f"k{last[0]!r}_{last[1]}"
            row = dict(zip(TASK_PAGE_FIELDS, values, strict=False))
            last = (row["created_at"], int(values[-1]))
            for key in ("created_at", "started_at", "completed_at", "updated_at"):
                row[key] = _dt(row[key])
            rows.append(row)
        return rows, None

    @_guard
    def delete_task(self, task_id: str) -> bool:
        """Delete the task with exactly this id and (by cascade) its turns,
        logs, costs, state and tool usage; its subtasks keep existing with
        ``parent_task_id`` cleared. False if unknown."""
        T = self.m.Task
        with self.db.atomic():
            return bool(T.delete().where(T.id == task_id).execute() > 0)

    # -- the conversation ------------------------------------------------
    def _fk_guard(self, task_id: str | None, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except pw.IntegrityError as exc:
            if integrity_kind(exc) == "foreign_key":
                raise NotFoundError(f"no task '{task_id}'") from None
            raise

    @_guard
    def add_turn(self, turn: Turn) -> None:
        """Store one ReAct turn, committed before returning. Storing the same
        (task_id, index) again replaces that turn (a resumed task redoing it).
        Unknown task → NotFoundError."""
        Tn = self.m.Turn
        row = {
            "task_id": turn.task_id,
            "turn_index": turn.index,
            "model": turn.model,
            "messages_json": json.dumps(to_builtins(turn.messages)),
            "tool_calls_json": json.dumps(to_builtins(turn.tool_calls)),
            "tool_results_json": json.dumps(to_builtins(turn.tool_results)),
            "prompt_tokens": turn.usage.prompt_tokens,
            "completion_tokens": turn.usage.completion_tokens,
            "cached_tokens": turn.usage.cached_tokens,
            "cost_usd": turn.usage.cost_usd,
            "model_duration_ms": turn.model_duration_ms,
            "tools_duration_ms": turn.tools_duration_ms,
            "created_at": _ts(turn.created_at),
        }
        update = {k: v for k, v in row.items() if k not in ("task_id", "turn_index")}
        self._fk_guard(
            turn.task_id,
            lambda: (
                Tn.insert(row)
                .on_conflict(conflict_target=[Tn.task_id, Tn.turn_index], update=update)
                .execute()
            ),
        )

    @_guard
    def list_turns(self, task_id: str) -> list[Turn]:
        """The task's turns in order of ``index`` (empty for an unknown id)."""
        Tn = self.m.Turn
        query = Tn.select().where(Tn.task_id == task_id).order_by(Tn.turn_index)
        return [self._turn(r) for r in query.dicts()]

    @staticmethod
    def _turn(r: dict[str, Any]) -> Turn:
        return Turn.from_dict(
            {
                "task_id": r["task_id"],
                "index": r["turn_index"],
                "model": r["model"],
                "messages": json.loads(r["messages_json"]),
                "tool_calls": json.loads(r["tool_calls_json"]),
                "tool_results": json.loads(r["tool_results_json"]),
                "usage": {
                    "prompt_tokens": r["prompt_tokens"],
                    "completion_tokens": r["completion_tokens"],
                    "cached_tokens": r["cached_tokens"],
                    "cost_usd": r["cost_usd"],
                },
                "model_duration_ms": r["model_duration_ms"],
                "tools_duration_ms": r["tools_duration_ms"],
                "created_at": _dt(r["created_at"]),
            }
        )

    # -- logs ------------------------------------------------------------
    @_guard
    def add_log(self, record: LogRecord) -> None:
        """Append one log row. Unknown task → NotFoundError."""
        L = self.m.TaskLog
        row = {
            "task_id": record.task_id,
            "timestamp": _ts(record.timestamp),
            "level": record.level,
            "message": record.message,
        }
        self._fk_guard(record.task_id, lambda: L.insert(row).execute())

    @_guard
    def add_logs(self, records: list[LogRecord]) -> int:
        """Append many log rows in one transaction (bulk import, benchmarks);
        returns how many. Not part of the contract."""
        rows = [
            {
                "task_id": r.task_id,
                "timestamp": _ts(r.timestamp),
                "level": r.level,
                "message": r.message,
            }
            for r in records
        ]
        self._insert_many("task_logs", rows)
        return len(rows)

    def _insert_many(self, table: str, rows: list[dict[str, Any]]) -> None:
        """One prepared INSERT run for every row (the driver's
        ``executemany``) in one transaction: for bulk paths, where building a
        peewee query per row costs more than the database's work. Driver
        errors come out as peewee's (``pw.IntegrityError``...)."""
        if not rows:
            return
        cols = list(rows[0])
        marks = ", ".join([self.db.param] * len(cols))
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
        with self.db.atomic(), pw.__exception_wrapper__:
            self.db.cursor().executemany(sql, [tuple(r[c] for c in cols) for r in rows])

    @_guard
    def list_logs(
        self,
        task_id: str | None = None,
        level: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[LogRecord]:
        """Log rows, oldest first. ``level`` is a minimum (``warning``
        includes ``error``); ``since`` is inclusive. With ``limit``, the
        *newest* ``limit`` matching rows (like ``tail -n``), still oldest
        first. Unknown level → StorageError."""
        L = self.m.TaskLog
        query = L.select()
        if task_id is not None:
            query = query.where(L.task_id == task_id)
        if level is not None:
            lv = level.lower()
            if lv not in LEVELS:
                raise StorageError(f"unknown log level '{level}' (one of {', '.join(LEVELS)})")
            query = query.where(L.level.in_(LEVELS[LEVELS.index(lv) :]))
        if since is not None:
            query = query.where(L.timestamp >= _ts(since))
        if limit is not None and limit >= 0:
            query = query.order_by(L.timestamp.desc(), L.id.desc()).limit(limit)
            rows = list(query.dicts())[::-1]
        else:
            rows = list(query.order_by(L.timestamp, L.id).dicts())
        return [
            LogRecord(
                task_id=r["task_id"],
                timestamp=datetime.fromtimestamp(r["timestamp"], UTC),
                level=r["level"],
                message=r["message"],
            )
            for r in rows
        ]

    # -- costs -----------------------------------------------------------
    @_guard
    def add_cost(self, record: CostRecord) -> None:
        """Append one cost row (USD). Unknown task → NotFoundError."""
        C = self.m.CostRecord
        row = {
            "task_id": record.task_id,
            "model": record.model,
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cached_tokens": record.cached_tokens,
            "cost_usd": record.cost_usd,
            "timestamp": _ts(record.timestamp),
        }
        self._fk_guard(record.task_id, lambda: C.insert(row).execute())

    def _cost_filter(self, query: Any, since: Any, until: Any, task_id: str | None) -> Any:
        C = self.m.CostRecord
        if since is not None:
            query = query.where(C.timestamp >= _ts(since))
        if until is not None:
            query = query.where(C.timestamp < _ts(until))
        if task_id is not None:
            query = query.where(C.task_id == task_id)
        return query

    @_guard
    def list_costs(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        task_id: str | None = None,
    ) -> list[CostRecord]:
        """Cost rows in time order; ``since`` inclusive, ``until`` exclusive."""
        C = self.m.CostRecord
        query = self._cost_filter(C.select(), since, until, task_id).order_by(C.timestamp, C.id)
        out = []
        for r in query.dicts():
            r.pop("id")
            r["timestamp"] = _dt(r["timestamp"])
            out.append(CostRecord.from_dict(r))
        return out

    @_guard
    def total_cost(self, since: datetime | None = None, task_id: str | None = None) -> float:
        """Sum of ``cost_usd`` (USD) of the matching cost rows (0.0 if none)."""
        C = self.m.CostRecord
        query = self._cost_filter(
            C.select(pw.fn.COALESCE(pw.fn.SUM(C.cost_usd), 0.0)), since, None, task_id
        )
        return float(query.scalar() or 0.0)

    # -- tool usage ------------------------------------------------------
    @_guard
    def record_tool_usage(self, task_id: str | None, tool_name: str, duration_ms: float) -> None:
        """Add one invocation of ``tool_name`` lasting ``duration_ms`` ms to
        the (task, tool) row. Unknown task → NotFoundError."""
        U = self.m.ToolUsage
        task_match = U.task_id.is_null() if task_id is None else U.task_id == task_id
        # serialised: two writers must not both find no row and both insert
        with self._serialized(f"tool_usage:{task_id}:{tool_name}"):
            n = (
                U.update(
                    invocation_count=U.invocation_count + 1,
                    total_duration_ms=U.total_duration_ms + float(duration_ms),
                )
                .where(task_match & (U.tool_name == tool_name))
                .execute()
            )
            if n == 0:
                self._fk_guard(
                    task_id,
                    lambda: U.insert(
                        task_id=task_id,
                        tool_name=tool_name,
                        invocation_count=1,
                        total_duration_ms=float(duration_ms),
                    ).execute(),
                )

    @_guard
    def list_tool_usage(self, task_id: str | None = None) -> list[ToolUsage]:
        """The task's rows, or (without ``task_id``) one row per tool summed
        over every task (``task_id`` None); sorted by tool name."""
        U = self.m.ToolUsage
        if task_id is not None:
            query = (
                U.select(U.task_id, U.tool_name, U.invocation_count, U.total_duration_ms)
                .where(U.task_id == task_id)
                .order_by(U.tool_name)
            )
            return [ToolUsage.from_dict(r) for r in query.dicts()]
        query = (
            U.select(
                U.tool_name,
                pw.fn.SUM(U.invocation_count).alias("invocation_count"),
                pw.fn.SUM(U.total_duration_ms).alias("total_duration_ms"),
            )
            .group_by(U.tool_name)
            .order_by(U.tool_name)
        )
        return [ToolUsage(task_id=None, **r) for r in query.dicts()]

    # -- state -----------------------------------------------------------
    @_guard
    def save_state(
        self, task_id: str, state: dict[str, Any], checkpoint_id: str | None = None
    ) -> None:
        """Replace the task's resumable state (a JSON object; values JSON
        cannot hold are stored as strings). Unknown task → NotFoundError."""
        S = self.m.TaskState
        row = {
            "task_id": task_id,
            "state_json": json.dumps(state, default=str),
            "checkpoint_id": checkpoint_id,
            "updated_at": _ts(utcnow()),
        }
        self._fk_guard(
            task_id,
            lambda: (
                S.insert(row)
                .on_conflict(
                    conflict_target=[S.task_id],
                    update={k: v for k, v in row.items() if k != "task_id"},
                )
                .execute()
            ),
        )

    @_guard
    def load_state(self, task_id: str) -> dict[str, Any] | None:
        """The task's saved state, or None."""
        S = self.m.TaskState
        row = S.select(S.state_json).where(S.task_id == task_id).tuples().first()
        return None if row is None else json.loads(row[0])

    # -- checkpoints -----------------------------------------------------
    @staticmethod
    def _checkpoint(row: dict[str, Any]) -> Checkpoint:
        return Checkpoint(
            id=row["id"],
            task_id=row["task_id"],
            turn=row["turn"],
            name=row["name"],
            commit=row["commit_id"],
            workspace=row["workspace"],
            created_at=dt(row["created_at"]) or utcnow(),
        )

    @_guard
    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store one checkpoint record. Unknown ``task_id`` → NotFoundError;
        a duplicate id → StorageError."""
        row = {
            "id": checkpoint.id,
            "task_id": checkpoint.task_id,
            "turn": checkpoint.turn,
            "name": checkpoint.name,
            "commit_id": checkpoint.commit,
            "workspace": checkpoint.workspace,
            "created_at": _ts(checkpoint.created_at),
        }
        try:
            self._fk_guard(checkpoint.task_id, lambda: self.m.Checkpoint.insert(row).execute())
        except pw.IntegrityError:
            raise StorageError(
                f"{self.location}: checkpoint {checkpoint.id} already exists"
            ) from None

    @_guard
    def list_checkpoints(
        self,
        task_id: str | None = None,
        workspace: str | None = None,
        limit: int | None = None,
    ) -> list[Checkpoint]:
        """Checkpoints matching the filters, newest first; at most ``limit``."""
        C = self.m.Checkpoint
        query = C.select()
        if task_id is not None:
            query = query.where(C.task_id == task_id)
        if workspace is not None:
            query = query.where(C.workspace == workspace)
        query = query.order_by(C.created_at.desc())
        if limit is not None and limit >= 0:
            query = query.limit(limit)
        return [self._checkpoint(r) for r in query.dicts()]

    @_guard
    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint with this id, or the only one whose id starts with
        ``checkpoint_id``; None when there is none or the prefix is ambiguous."""
        if not checkpoint_id:
            return None
        C = self.m.Checkpoint
        row = C.select().where(C.id == checkpoint_id).dicts().first()
        if row is None:
            rows = list(C.select().where(self._id_prefix(C, checkpoint_id)).limit(2).dicts())
            row = rows[0] if len(rows) == 1 else None
        return None if row is None else self._checkpoint(row)

    @_guard
    def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """Delete the checkpoint record with exactly this id; False if unknown."""
        C = self.m.Checkpoint
        return bool(C.delete().where(C.id == checkpoint_id).execute() > 0)

    @_guard
    def delete_turns_after(self, task_id: str, index: int) -> int:
        """Drop the task's turns with an index above ``index``; returns how
        many. Unknown task → NotFoundError."""
        T, Tn = self.m.Task, self.m.Turn
        with self.db.atomic():
            if not T.select().where(T.id == task_id).exists():
                raise NotFoundError(f"no task '{task_id}'")
            n = Tn.delete().where((Tn.task_id == task_id) & (Tn.turn_index > index)).execute()
        return int(n)

    # -- recovery --------------------------------------------------------
    #: Tasks marked per UPDATE statement by :meth:`mark_interrupted` (each
    #: costs 3 bound parameters; SQLite before 3.32 allows 999 per statement).
    MARK_CHUNK = 300

    @_guard
    def mark_interrupted(self) -> list[str]:
        """Mark ``running`` tasks whose process is gone as ``interrupted``.

        Only tasks recorded with a pid on this host (``socket.gethostname()``)
        are judged; the process counts as gone when the pid does not exist,
        is a zombie, or was started after the task's last write (pid reuse).
        Each marked task gets ``error`` (if empty) and a warning log row
        saying which process died. Returns the ids marked.

        Set-based: one SELECT of the running tasks, then in one transaction
        one UPDATE per :data:`MARK_CHUNK` dead tasks (a task is marked only
        if it is still ``running`` under the pid judged, so a task resumed
        meanwhile by another process is left alone), one SELECT of what was
        marked and one batched INSERT of the log rows.
        """
        T = self.m.Task
        rows = list(
            T.select(T.id, T.pid, T.host, T.updated_at)
            .where((T.status == TaskStatus.RUNNING.value) & T.pid.is_null(False))
            .tuples()
        )
        if not rows:
            return []
        here = this_host()
        alive: dict[tuple[int, float | None], bool] = {}
        dead: dict[str, int] = {}
        for tid, pid, host, updated in rows:
            if host != here:
                continue
            key = (pid, updated)
            if key not in alive:
                alive[key] = self._process_alive(pid, updated)
            if not alive[key]:
                dead[tid] = pid
        if not dead:
            return []
        now = _ts(utcnow())
        running = TaskStatus.RUNNING.value
        why = pw.Value("interrupted: process ").concat(pw.Cast(T.pid, "TEXT"))
        why = why.concat(pw.Value(f" on {here} ended while the task was running"))
        marked: list[str] = []
        ids = list(dead)
        with self.db.atomic():
            for start in range(0, len(ids), self.MARK_CHUNK):
                chunk = ids[start : start + self.MARK_CHUNK]
                judged = pw.Case(T.id, [(tid, dead[tid]) for tid in chunk])
                T.update(
                    status=TaskStatus.INTERRUPTED.value,
                    updated_at=now,
                    error=pw.fn.COALESCE(T.error, why),
                ).where(T.id.in_(chunk) & (T.status == running) & (T.pid == judged)).execute()
                done = {
                    r[0]
                    for r in T.select(T.id)
                    .where(
                        T.id.in_(chunk)
                        & (T.status == TaskStatus.INTERRUPTED.value)
                        & (T.updated_at == now)
                    )
                    .tuples()
                }
                marked.extend(tid for tid in chunk if tid in done)
            self._insert_many(
                "task_logs",
                [
                    {
                        "task_id": tid,
                        "timestamp": now,
                        "level": "warning",
                        "message": f"interrupted: process {dead[tid]} on {here} "
                        "ended while the task was running",
                    }
                    for tid in marked
                ],
            )
        return marked

    # -- watching (dashboards, servers) ----------------------------------
    @_guard
    def list_tasks_updated_since(self, since: datetime, limit: int = 500) -> list[Task]:
        """Tasks with ``updated_at`` at or after ``since``, least recently
        updated first, at most ``limit`` (index ``tasks_updated_at``)."""
        T = self.m.Task
        query = T.select().where(T.updated_at >= _ts(since)).order_by(T.updated_at).limit(limit)
        return [self._task(r) for r in query.dicts()]

    @_guard
    def search_tasks(
        self,
        text: str,
        status: TaskStatus | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks whose id, description or model contains ``text``
        (case-insensitive: ``LOWER(column) LIKE``), newest first."""
        T = self.m.Task
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"

        def like(field: Any) -> Any:
            # spelled out: peewee's own LIKE operator becomes GLOB on SQLite
            return pw.NodeList(
                (pw.fn.LOWER(field), pw.SQL("LIKE"), pw.Value(pattern), pw.SQL("ESCAPE '\\'"))
            )

        query = self._task_filter(T.select(), status, None, None).where(
            like(T.id) | like(T.description) | like(T.model)
        )
        query = query.order_by(T.created_at.desc(), pw.SQL(self.insertion_order).desc())
        query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        return [self._task(r) for r in query.dicts()]

    @_guard
    def count_turns(self, task_ids: Sequence[str]) -> dict[str, int]:
        """Stored turns per task: one grouped query per 500 ids, served by
        the ``(task_id, turn_index)`` unique index."""
        out = dict.fromkeys(task_ids, 0)
        Tn = self.m.Turn
        ids = list(out)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = (
                Tn.select(Tn.task_id, pw.fn.COUNT(Tn.id))
                .where(Tn.task_id.in_(chunk))
                .group_by(Tn.task_id)
                .tuples()
            )
            for task_id, n in query:
                out[task_id] = int(n)
        return out

    # -- several workers, one database ------------------------------------
    @guard
    def claim_task(self, task_id: str, owner: str, stale_after_s: float = 30.0) -> bool:
        """See :meth:`az_os.storage.Storage.claim_task`; one serialised
        transaction per task."""
        T, C = self.m.Task, self.m.TaskClaim
        now = time.time()
        with self._serialized(f"claim:{task_id}"):
            row = T.select(T.status).where(T.id == task_id).tuples().first()
            if row is None:
                raise NotFoundError(f"no task '{task_id}'")
            if row[0] in FINISHED:
                return False
            claim = C.select().where(C.task_id == task_id).dicts().first()
            if claim is None:
                C.insert(
                    task_id=task_id, owner=owner, claimed_at=now, heartbeat_at=now, attempts=1
                ).execute()
                return True
            if claim["owner"] == owner:
                C.update(heartbeat_at=now).where(C.task_id == task_id).execute()
                return True
            if claim["heartbeat_at"] < now - stale_after_s:
                C.update(
                    owner=owner, claimed_at=now, heartbeat_at=now, attempts=C.attempts + 1
                ).where((C.task_id == task_id) & (C.owner == claim["owner"])).execute()
                return True
            return False

    @guard
    def heartbeat_claim(self, task_id: str, owner: str) -> bool:
        """Refresh ``owner``'s claim; False if another owner took it."""
        C = self.m.TaskClaim
        n = (
            C.update(heartbeat_at=time.time())
            .where((C.task_id == task_id) & (C.owner == owner))
            .execute()
        )
        return bool(n)

    @guard
    def release_claim(self, task_id: str, owner: str) -> bool:
        """Drop ``owner``'s claim; False if it held none."""
        C = self.m.TaskClaim
        return bool(C.delete().where((C.task_id == task_id) & (C.owner == owner)).execute())

    @guard
    def claim_holder(self, task_id: str) -> str | None:
        """The owner of the task's claim, or None."""
        C = self.m.TaskClaim
        row = C.select(C.owner).where(C.task_id == task_id).tuples().first()
        return None if row is None else str(row[0])

    @guard
    def stale_claims(self, stale_after_s: float = 30.0) -> list[tuple[str, str]]:
        """``(task id, owner)`` of unfinished tasks whose claim's heartbeat is
        older than ``stale_after_s`` seconds, oldest first."""
        T, C = self.m.Task, self.m.TaskClaim
        query = (
            C.select(C.task_id, C.owner)
            .join(T, on=(T.id == C.task_id))
            .where((C.heartbeat_at < time.time() - stale_after_s) & T.status.not_in(FINISHED))
            .order_by(C.heartbeat_at)
            .tuples()
        )
        return [(r[0], r[1]) for r in query]

    @guard
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
        """See :meth:`az_os.storage.Storage.reserve_budget`: one transaction,
        serialised across every process sharing the database."""
        C, R = self.m.CostRecord, self.m.BudgetReservation
        now = time.time()
        here = this_host()
        with self._serialized("budget"):
            task_spent = float(
                C.select(pw.fn.COALESCE(pw.fn.SUM(C.cost_usd), 0.0))
                .where(C.task_id == task_id)
                .scalar()
                or 0.0
            )
            if task_cap_usd is not None and task_spent + worst_usd > task_cap_usd + EPSILON_USD:
                return BudgetCheck(ok=False, refused="task_cap", task_spent_usd=task_spent)
            spent = reserved = 0.0
            if budget_usd is not None:
                query = C.select(pw.fn.COALESCE(pw.fn.SUM(C.cost_usd), 0.0))
                if since is not None:
                    query = query.where(C.timestamp >= _ts(since))
                spent = float(query.scalar() or 0.0)
                for pid, host, usd, at in (
                    R.select(R.pid, R.host, R.worst_usd, R.created_at)
                    .where(R.task_id != task_id)
                    .tuples()
                ):
                    if at < now - ttl_s:
                        continue
                    if host == here and pid and not self._process_alive(pid, None):
                        continue
                    reserved += usd
                if spent + reserved + worst_usd > budget_usd + EPSILON_USD:
                    return BudgetCheck(
                        ok=False,
                        refused="budget",
                        spent_usd=spent,
                        task_spent_usd=task_spent,
                        reserved_usd=reserved,
                    )
            row = {
                "task_id": task_id,
                "pid": os.getpid(),
                "host": here,
                "model": model,
                "worst_usd": float(worst_usd),
                "created_at": now,
            }
            R.insert(row).on_conflict(
                conflict_target=[R.task_id],
                update={k: v for k, v in row.items() if k != "task_id"},
            ).execute()
            return BudgetCheck(
                ok=True, spent_usd=spent, task_spent_usd=task_spent, reserved_usd=reserved
            )

    @guard
    def release_budget(self, task_id: str) -> None:
        """Drop the task's reservation."""
        R = self.m.BudgetReservation
        R.delete().where(R.task_id == task_id).execute()

    # -- following a conversation (dashboards, servers) --------------------
    @guard
    def list_turns_after(self, task_id: str, index: int) -> list[Turn]:
        """The task's turns with an index above ``index``, in order of index
        (empty for an unknown id): a range scan of the ``(task_id,
        turn_index)`` unique index, so following a running task reads each
        turn once."""
        Tn = self.m.Turn
        query = (
            Tn.select()
            .where((Tn.task_id == task_id) & (Tn.turn_index > index))
            .order_by(Tn.turn_index)
        )
        return [self._turn(r) for r in query.dicts()]
