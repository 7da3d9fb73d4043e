"""The database schema, as an ordered list of migrations shared by every
SQL backend.

Each migration is a function taking an open peewee database and running
DDL. The DDL is written once; the few column types that differ between
dialects are placeholders (``{real}``, ``{serial_pk}``, ``{task_seq}``)
filled in by :func:`ddl` for the database's dialect:

=============== ==================== ===========================
placeholder     SQLite               PostgreSQL
=============== ==================== ===========================
``{real}``      ``REAL``             ``DOUBLE PRECISION``
``{serial_pk}`` ``INTEGER PRIMARY    ``BIGSERIAL PRIMARY KEY``
                KEY`` (the rowid)
``{task_seq}``  nothing (``rowid``)  ``seq BIGSERIAL NOT NULL,``
=============== ==================== ===========================

``tasks.seq`` gives PostgreSQL the insertion order SQLite keeps in
``rowid`` (tasks created in the same instant list newest first).

A :class:`MigrationRunner` applies them in list order, each in its own
transaction together with the row that records it in ``_migrations``
(name, applied_at as unix seconds), so a crash in the middle leaves the
database at the previous version. A backend subclasses the runner for how
it serialises migrators (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an
advisory lock) and where it keeps a fast version number.

Rules for adding one: append a new function to :data:`MIGRATIONS` (never
edit or reorder a released one), name it ``mNNN_what_it_does``, and use
the placeholders for any REAL or auto-increment column.

A database whose ``_migrations`` table names a migration this code does not
know was written by a newer az; :meth:`MigrationRunner.migrate` refuses to
touch it.

Timestamps are unix seconds (UTC) in floating-point columns, so
``ORDER BY`` and ``since`` filters are plain numeric comparisons and indexes
serve them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from az_os.errors import StorageError

Migration = Callable[[Any], None]
MIGRATIONS: list[Migration] = []

#: Column types per dialect (see the module docstring).
DIALECT_TYPES: dict[str, dict[str, str]] = {
    "sqlite": {"real": "REAL", "serial_pk": "INTEGER PRIMARY KEY", "task_seq": ""},
    "postgres": {
        "real": "DOUBLE PRECISION",
        "serial_pk": "BIGSERIAL PRIMARY KEY",
        "task_seq": "seq BIGSERIAL NOT NULL,",
    },
}


def migration(fn: Migration) -> Migration:
    """Append ``fn`` to :data:`MIGRATIONS` (decorator)."""
    MIGRATIONS.append(fn)
    return fn


def dialect(db: Any) -> str:
    """``"postgres"`` for a peewee PostgreSQL database (psycopg 2 or 3),
    else ``"sqlite"``."""
    names = {cls.__name__ for cls in type(db).__mro__}
    return "postgres" if "PostgresqlDatabase" in names else "sqlite"


def ddl(db: Any, script: str) -> list[str]:
    """``script``'s statements (split on ``;``) with the placeholders filled
    in for ``db``'s dialect."""
    filled = script.format(**DIALECT_TYPES[dialect(db)])
    return [s for s in filled.split(";") if s.strip()]


def _run(db: Any, script: str) -> None:
    for statement in ddl(db, script):
        db.execute_sql(statement)


@migration
def m001_initial(db: Any) -> None:
    """The first tables: tasks, task_logs, cost_tracking,
    task_state, tool_usage, with indexes for the list filters."""
    _run(
        db,
        """
        CREATE TABLE tasks (
            id TEXT PRIMARY KEY,{task_seq}
            description TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'initialized',
            priority TEXT NOT NULL DEFAULT 'medium',
            parent_task_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
            created_at {real} NOT NULL,
            started_at {real},
            completed_at {real},
            updated_at {real} NOT NULL,
            result TEXT,
            error TEXT,
            cost_usd {real} NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            workspace TEXT
        );
        CREATE INDEX tasks_created_at ON tasks(created_at);
        CREATE INDEX tasks_status_created_at ON tasks(status, created_at);
        CREATE INDEX tasks_priority_created_at ON tasks(priority, created_at);
        CREATE INDEX tasks_parent_task_id ON tasks(parent_task_id);

        CREATE TABLE task_logs (
            id {serial_pk},
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            timestamp {real} NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX task_logs_timestamp ON task_logs(timestamp);
        CREATE INDEX task_logs_task_id_timestamp ON task_logs(task_id, timestamp);

        CREATE TABLE cost_tracking (
            id {serial_pk},
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd {real} NOT NULL DEFAULT 0,
            timestamp {real} NOT NULL
        );
        CREATE INDEX cost_tracking_timestamp ON cost_tracking(timestamp);
        CREATE INDEX cost_tracking_task_id ON cost_tracking(task_id);

        CREATE TABLE task_state (
            id {serial_pk},
            task_id TEXT NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
            state_json TEXT NOT NULL,
            checkpoint_id TEXT,
            updated_at {real} NOT NULL
        );

        CREATE TABLE tool_usage (
            id {serial_pk},
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            tool_name TEXT NOT NULL,
            invocation_count INTEGER NOT NULL DEFAULT 0,
            total_duration_ms {real} NOT NULL DEFAULT 0,
            UNIQUE (task_id, tool_name)
        );
        CREATE INDEX tool_usage_tool_name ON tool_usage(tool_name)
        """,
    )


@migration
def m002_task_execution_fields(db: Any) -> None:
    """What the engine needs to run and recover a task (turn and money
    limits, approval mode, the pid/host that runs it) and the cached part of
    a call's input tokens."""
    _run(
        db,
        """
        ALTER TABLE tasks ADD COLUMN max_turns INTEGER NOT NULL DEFAULT 5;
        ALTER TABLE tasks ADD COLUMN max_cost_usd {real};
        ALTER TABLE tasks ADD COLUMN approval TEXT NOT NULL DEFAULT 'ask';
        ALTER TABLE tasks ADD COLUMN pid INTEGER;
        ALTER TABLE tasks ADD COLUMN host TEXT;
        ALTER TABLE cost_tracking ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0
        """,
    )


@migration
def m003_turns(db: Any) -> None:
    """A task's conversation, one row per ReAct turn: the messages it added,
    its tool calls and results (JSON arrays), its usage and durations."""
    _run(
        db,
        """
        CREATE TABLE turns (
            id {serial_pk},
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            turn_index INTEGER NOT NULL,
            model TEXT,
            messages_json TEXT NOT NULL DEFAULT '[]',
            tool_calls_json TEXT NOT NULL DEFAULT '[]',
            tool_results_json TEXT NOT NULL DEFAULT '[]',
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd {real} NOT NULL DEFAULT 0,
            model_duration_ms {real} NOT NULL DEFAULT 0,
            tools_duration_ms {real} NOT NULL DEFAULT 0,
            created_at {real} NOT NULL,
            UNIQUE (task_id, turn_index)
        )
        """,
    )


@migration
def m004_tasks_updated_at(db: Any) -> None:
    """An index on ``tasks.updated_at``, so watching for changed tasks
    (``list_tasks_updated_since``, polled by the dashboard) reads only what changed."""
    _run(db, "CREATE INDEX tasks_updated_at ON tasks(updated_at)")


@migration
def m005_checkpoints(db: Any) -> None:
    """Checkpoints of a workspace (az-git): which task and turn, a name, the
    snapshot's commit id in the workspace's checkpoint store."""
    _run(
        db,
        """
        CREATE TABLE checkpoints (
            id TEXT PRIMARY KEY,
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            turn INTEGER NOT NULL DEFAULT 0,
            name TEXT NOT NULL,
            commit_id TEXT NOT NULL,
            workspace TEXT NOT NULL,
            created_at {real} NOT NULL
        );
        CREATE INDEX checkpoints_task_id_created_at ON checkpoints(task_id, created_at);
        CREATE INDEX checkpoints_workspace_created_at ON checkpoints(workspace, created_at)
        """,
    )


@migration
def m006_claims_and_reservations(db: Any) -> None:
    """What several workers sharing one database need: ``task_claims`` (which
    worker runs a task, with a heartbeat, so a redelivered message never runs
    it twice and a dead worker's task can be taken over) and
    ``budget_reservations`` (the worst case of each model call in flight, so
    workers checking one budget together cannot overspend it)."""
    _run(
        db,
        """
        CREATE TABLE task_claims (
            task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
            owner TEXT NOT NULL,
            claimed_at {real} NOT NULL,
            heartbeat_at {real} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX task_claims_heartbeat_at ON task_claims(heartbeat_at);

        CREATE TABLE budget_reservations (
            task_id TEXT PRIMARY KEY,
            pid INTEGER,
            host TEXT,
            model TEXT,
            worst_usd {real} NOT NULL,
            created_at {real} NOT NULL
        )
        """,
    )


LATEST_VERSION = len(MIGRATIONS)


class MigrationRunner:
    """Applies :data:`MIGRATIONS` to one database.

    ``MigrationRunner(db, location, product)``: ``location`` names the
    database in messages, ``product`` the distribution a user upgrades when
    the database is newer than this code (``"az-sqlite"``). Subclasses
    override :meth:`table_exists`, :meth:`lock`, and optionally
    :meth:`stored_version` / :meth:`store_version` (a fast version number
    kept beside ``_migrations``) and :data:`order_by`.
    """

    #: SQL ordering ``_migrations`` rows in the order they were applied.
    order_by = "applied_at, name"

    def __init__(self, db: Any, location: str = "database", product: str = "az") -> None:
        self.db = db
        self.location = location
        self.product = product

    # -- per-dialect -------------------------------------------------------
    def table_exists(self, name: str) -> bool:
        """Whether a table called ``name`` exists (peewee's introspection)."""
        return bool(self.db.table_exists(name))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """A transaction during which no other process migrates."""
        with self.db.atomic():
            yield

    def stored_version(self) -> int | None:
        """A version number read without touching ``_migrations`` (None when
        the dialect keeps none)."""
        return None

    def store_version(self, version: int) -> None:  # noqa: B027 - optional
        """Record ``version`` where :meth:`stored_version` reads it."""

    # -- shared ------------------------------------------------------------
    def applied(self) -> list[str]:
        """Names of the migrations recorded in the database, in applied order
        (empty for a new database)."""
        if not self.table_exists("_migrations"):
            return []
        rows = self.db.execute_sql(f"SELECT name FROM _migrations ORDER BY {self.order_by}")
        return [r[0] for r in rows]

    def version(self) -> int:
        """The schema version: the stored number, or how many migrations are
        recorded."""
        stored = self.stored_version()
        return len(self.applied()) if stored is None else stored

    def refuse_newer(self, version: int, unknown: list[str]) -> StorageError:
        """The one-line error for a database newer than this code."""
        what = (
            f"unknown migrations {', '.join(unknown)}" if unknown else f"schema version {version}"
        )
        return StorageError(
            f"{self.location} was written by a newer {self.product} ({what}; this one knows up "
            f"to version {LATEST_VERSION}): upgrade {self.product} "
            f"(pip install -U {self.product})"
        )

    def pending(self) -> list[str]:
        """Names of the migrations not yet applied. Raises StorageError when
        the database is newer than this code."""
        known = [m.__name__ for m in MIGRATIONS]
        done = self.applied()
        unknown = [n for n in done if n not in known]
        stored = self.stored_version()
        if unknown or (stored is not None and stored > LATEST_VERSION):
            raise self.refuse_newer(stored if stored is not None else len(done), unknown)
        return [n for n in known if n not in done]

    def migrate(self) -> list[str]:
        """Apply every pending migration; returns the names applied (empty
        when the database was up to date).

        Safe when several processes open a new database at once: the check
        and each migration run under :meth:`lock`, so a migration is never
        applied twice. Raises :class:`~az_os.errors.StorageError` for a
        database from a newer version.
        """
        stored = self.stored_version()
        if stored == LATEST_VERSION:
            return []
        if stored is not None and stored > LATEST_VERSION:
            self.pending()  # raises, naming the unknown migrations
        applied: list[str] = []
        param = self.db.param
        for fn in MIGRATIONS:
            with self.lock():
                self.db.execute_sql(
                    "CREATE TABLE IF NOT EXISTS _migrations "
                    f"(name TEXT PRIMARY KEY, applied_at {DIALECT_TYPES[dialect(self.db)]['real']}"
                    " NOT NULL)"
                )
                if fn.__name__ not in self.pending():
                    continue
                fn(self.db)
                self.db.execute_sql(
                    f"INSERT INTO _migrations (name, applied_at) VALUES ({param}, {param})",
                    (fn.__name__, time.time()),
                )
                self.store_version(MIGRATIONS.index(fn) + 1)
                applied.append(fn.__name__)
        return applied
