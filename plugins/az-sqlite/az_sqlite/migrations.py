"""The SQLite side of the shared migrations (:mod:`az_os.sqlstore.migrations`).

The migrations themselves (``MIGRATIONS``, ``m001_initial``...) are the
kernel's, shared with every SQL backend; this module decides how SQLite runs
them: each in its own ``BEGIN IMMEDIATE`` transaction (one writer at a time,
so processes opening a new file together apply each migration once), with
the schema version mirrored in ``PRAGMA user_version`` so that opening an
up-to-date database costs one pragma read.

A database whose ``_migrations`` table names a migration this code does not
know (or whose ``user_version`` is higher than ``len(MIGRATIONS)``) was
written by a newer az-sqlite; :func:`migrate` refuses to touch it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from az_os.sqlstore.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    MigrationRunner,
    m001_initial,
    m002_task_execution_fields,
    m003_turns,
    migration,
)

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "SQLiteMigrations",
    "applied_migrations",
    "m001_initial",
    "m002_task_execution_fields",
    "m003_turns",
    "migrate",
    "migration",
    "pending_migrations",
    "user_version",
]


class SQLiteMigrations(MigrationRunner):
    """Runs the shared migrations on an SQLite file."""

    order_by = "rowid"

    def __init__(self, db: Any, location: str = "database") -> None:
        super().__init__(db, location, product="az-sqlite")

    def table_exists(self, name: str) -> bool:
        row = self.db.execute_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    @contextmanager
    def lock(self) -> Iterator[None]:
        with self.db.atomic("IMMEDIATE"):
            yield

    def stored_version(self) -> int:
        return user_version(self.db)

    def store_version(self, version: int) -> None:
        self.db.execute_sql(f"PRAGMA user_version = {int(version)}")


def applied_migrations(db: Any) -> list[str]:
    """Names of the migrations recorded in the database, in applied order
    (empty for a new database)."""
    return SQLiteMigrations(db).applied()


def user_version(db: Any) -> int:
    """``PRAGMA user_version``: the schema version this file says it has."""
    return int(db.execute_sql("PRAGMA user_version").fetchone()[0])


def pending_migrations(db: Any, location: str = "database") -> list[str]:
    """Names of the migrations not yet applied. Raises StorageError when the
    database is newer than this code."""
    return SQLiteMigrations(db, location).pending()


def migrate(db: Any, location: str = "database") -> list[str]:
    """Apply every pending migration; returns the names applied (empty when
    the database was up to date). Raises :class:`~az_os.errors.StorageError`
    for a database from a newer az-sqlite."""
    return SQLiteMigrations(db, location).migrate()
