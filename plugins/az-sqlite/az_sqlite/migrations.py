"""The database schema, as an ordered list of migrations.

Each migration is a function taking an open :class:`sqlite3`-style
connection wrapper (a peewee database) and running DDL. They are applied in
list order, each in its own ``BEGIN IMMEDIATE`` transaction together with the
row that records it in ``_migrations`` (name, applied_at as unix seconds),
so a crash in the middle leaves the database at the previous version. The
schema version is the number of applied migrations; it is mirrored in
``PRAGMA user_version`` so that opening an up-to-date database costs one
pragma read.

Rules for adding one: append a new function to :data:`MIGRATIONS` (never
edit or reorder a released one), name it ``mNNN_what_it_does``.

A database whose ``_migrations`` table names a migration this code does not
know (or whose ``user_version`` is higher than ``len(MIGRATIONS)``) was
written by a newer az-sqlite; :func:`migrate` refuses to touch it.

Timestamps are REAL unix seconds (UTC), so ``ORDER BY`` and ``since``
filters are plain numeric comparisons and indexes serve them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from az_os.errors import StorageError

Migration = Callable[[Any], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def _run(db: Any, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute_sql(statement)


@migration
def m001_initial(db: Any) -> None:
    """The design brief's tables: tasks, task_logs, cost_tracking,
    task_state, tool_usage, with indexes for the list filters."""
    _run(
        db,
        """
        CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            description TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'initialized',
            priority TEXT NOT NULL DEFAULT 'medium',
            parent_task_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            completed_at REAL,
            updated_at REAL NOT NULL,
            result TEXT,
            error TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            workspace TEXT
        );
        CREATE INDEX tasks_created_at ON tasks(created_at);
        CREATE INDEX tasks_status_created_at ON tasks(status, created_at);
        CREATE INDEX tasks_priority_created_at ON tasks(priority, created_at);
        CREATE INDEX tasks_parent_task_id ON tasks(parent_task_id);

        CREATE TABLE task_logs (
            id INTEGER PRIMARY KEY,
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            timestamp REAL NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX task_logs_timestamp ON task_logs(timestamp);
        CREATE INDEX task_logs_task_id_timestamp ON task_logs(task_id, timestamp);

        CREATE TABLE cost_tracking (
            id INTEGER PRIMARY KEY,
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            timestamp REAL NOT NULL
        );
        CREATE INDEX cost_tracking_timestamp ON cost_tracking(timestamp);
        CREATE INDEX cost_tracking_task_id ON cost_tracking(task_id);

        CREATE TABLE task_state (
            id INTEGER PRIMARY KEY,
            task_id TEXT NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
            state_json TEXT NOT NULL,
            checkpoint_id TEXT,
            updated_at REAL NOT NULL
        );

        CREATE TABLE tool_usage (
            id INTEGER PRIMARY KEY,
            task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
            tool_name TEXT NOT NULL,
            invocation_count INTEGER NOT NULL DEFAULT 0,
            total_duration_ms REAL NOT NULL DEFAULT 0,
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
        ALTER TABLE tasks ADD COLUMN max_cost_usd REAL;
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
            id INTEGER PRIMARY KEY,
            task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            turn_index INTEGER NOT NULL,
            model TEXT,
            messages_json TEXT NOT NULL DEFAULT '[]',
            tool_calls_json TEXT NOT NULL DEFAULT '[]',
            tool_results_json TEXT NOT NULL DEFAULT '[]',
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            model_duration_ms REAL NOT NULL DEFAULT 0,
            tools_duration_ms REAL NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            UNIQUE (task_id, turn_index)
        )
        """,
    )


LATEST_VERSION = len(MIGRATIONS)


def _ensure_table(db: Any) -> None:
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )


def applied_migrations(db: Any) -> list[str]:
    """Names of the migrations recorded in the database, in applied order
    (empty for a new database)."""
    exists = db.execute_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if not exists:
        return []
    return [r[0] for r in db.execute_sql("SELECT name FROM _migrations ORDER BY rowid")]


def user_version(db: Any) -> int:
    """``PRAGMA user_version``: the schema version this file says it has."""
    return int(db.execute_sql("PRAGMA user_version").fetchone()[0])


def _refuse_newer(location: str, version: int, unknown: list[str]) -> StorageError:
    what = f"unknown migrations {', '.join(unknown)}" if unknown else f"schema version {version}"
    return StorageError(
        f"{location} was written by a newer az-sqlite ({what}; this one knows up to "
        f"version {LATEST_VERSION}): upgrade az-sqlite (pip install -U az-sqlite)"
    )


def pending_migrations(db: Any, location: str = "database") -> list[str]:
    """Names of the migrations not yet applied. Raises StorageError when the
    database is newer than this code."""
    known = [m.__name__ for m in MIGRATIONS]
    done = applied_migrations(db)
    unknown = [n for n in done if n not in known]
    if unknown or user_version(db) > LATEST_VERSION:
        raise _refuse_newer(location, user_version(db), unknown)
    return [n for n in known if n not in done]


def migrate(db: Any, location: str = "database") -> list[str]:
    """Apply every pending migration; returns the names applied (empty when
    the database was up to date).

    Safe when several processes open a new database at once: the check and
    each migration run under ``BEGIN IMMEDIATE`` (one writer at a time), so
    a migration is never applied twice. Raises
    :class:`~az_os.errors.StorageError` for a database from a newer
    az-sqlite.
    """
    version = user_version(db)
    if version == LATEST_VERSION:
        return []
    if version > LATEST_VERSION:
        pending_migrations(db, location)  # raises, naming the unknown migrations
    applied: list[str] = []
    for fn in MIGRATIONS:
        with db.atomic("IMMEDIATE"):
            _ensure_table(db)
            done = pending_migrations(db, location)
            if fn.__name__ not in done:
                continue
            fn(db)
            db.execute_sql(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, time.time()),
            )
            db.execute_sql(f"PRAGMA user_version = {MIGRATIONS.index(fn) + 1}")
            applied.append(fn.__name__)
    return applied
