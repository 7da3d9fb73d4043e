"""``SQLiteStorage``: the kernel's :class:`~az_os.storage.Storage` on SQLite via peewee.

Where: ``storage.path`` from config (``~`` expanded; a relative path is
taken relative to the az home), else ``<az home>/az.db``.

How the file is used, so that several ``az`` processes (parallel tasks, the
dashboard, the server) share it safely:

* ``journal_mode=WAL``: readers never block the writer and vice versa;
* ``busy_timeout`` 30 s (:data:`BUSY_TIMEOUT_S`): a writer waits for the
  write lock instead of failing with "database is locked";
* every multi-statement write runs in ``BEGIN IMMEDIATE``, which takes the
  write lock up front (a deferred transaction that upgrades from read to
  write can fail at once with SQLITE_BUSY, bypassing the timeout);
* ``synchronous=NORMAL``: in WAL mode a commit is atomic and survives a
  process crash (SIGKILL); only a power loss may lose the last commits;
* ``foreign_keys=ON`` with ``ON DELETE CASCADE``: deleting a task deletes its
  turns, logs, costs, state and tool usage.

Connections are per thread (peewee's thread-local state), so one
``SQLiteStorage`` may be used from many threads, e.g. by
:class:`~az_os.storage.TaskRepository` through ``asyncio.to_thread``.

The tables, the migrations and every contract method are the kernel's
shared SQL store (:mod:`az_os.sqlstore`), the same for every SQL backend;
this module is the SQLite connection around them. Timestamps are stored as
REAL unix seconds and returned as tz-aware UTC datetimes.

Opening runs the pending migrations (:mod:`az_sqlite.migrations`) and then
:meth:`SQLiteStorage.mark_interrupted`, unless the file or its directory is
read-only for this process: then it is opened read-only, without writing
anything, so commands that only read work from a read-only az home. A file that is not an SQLite database,
is truncated or corrupt raises :class:`~az_os.errors.StorageError` naming the
file, and is never written to.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from az_os.errors import StorageError
from az_os.files import writable
from az_os.sqlstore.driverless import peewee as pw
from az_os.sqlstore.schema import TABLES
from az_os.sqlstore.store import (
    SQLStorage,
    guard,
    process_alive,
    this_host,
)
from az_os.util import PID_REUSE_SLACK_S, private_dir, private_file

from az_sqlite import migrations

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

BUSY_TIMEOUT_S = 30.0

#: Bytes of disk kept aside in ``<database>-reserve``: when a write finds the
#: disk full the file is deleted, so the failing task's final status (and its
#: log line saying why) can still be written. Recreated by a later open that
#: finds room.
RESERVE_BYTES = 256 * 1024
SQLITE_MAGIC = b"SQLite format 3\x00"

__all__ = [
    "BUSY_TIMEOUT_S",
    "PID_REUSE_SLACK_S",
    "SQLiteStorage",
    "check_file",
    "database_path",
    "process_alive",
    "this_host",
]


def database_path(config: AzConfig) -> Path:
    """The database file this config points at (``storage.path`` or
    ``<home>/az.db``)."""
    raw = config.storage.path
    if raw:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else config.home / path
    return config.home / "az.db"


def check_file(path: Path) -> None:
    """Refuse a file SQLite should not open, without writing to it.

    Checks: it is a regular readable file (or absent, or empty: both become
    a new database); its first 16 bytes are the SQLite magic string; its size
    is a whole number of pages and at least the page count the header
    records (when that field is valid, i.e. written by SQLite >= 3.7.0, and
    no write-ahead log holds the missing pages).
    Raises :class:`StorageError` with one line naming the file.
    """
    if not path.exists():
        return
    if not path.is_file():
        raise StorageError(f"{path}: not a regular file; set storage.path to a database file")
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
        size = path.stat().st_size
    except OSError as exc:
        raise StorageError(
            f"{path}: cannot read the database file: {exc.strerror or exc}"
        ) from None
    if size == 0:
        return
    hint = (
        "az never overwrites it: move it away, or 'az db init --force' backs it up and starts anew"
    )
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StorageError(f"{path}: not an SQLite database ({hint})")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    change_counter = header[24:28]
    valid_for = header[92:96]
    if page_size < 512 or page_size & (page_size - 1):
        raise StorageError(f"{path}: corrupt SQLite header (page size {page_size}; {hint})")
    # Pages a checkpoint had not finished copying (a full disk stops it half-way)
    # are still in the write-ahead log, and SQLite reads them from there: with a
    # non-empty WAL beside it a short file is sound, so SQLite judges it.
    wal = path.with_name(path.name + "-wal")
    in_wal = wal.is_file() and wal.stat().st_size > 0
    short = valid_for == change_counter and size < page_count * page_size
    if size % page_size or (short and not in_wal):
        raise StorageError(
            f"{path}: truncated SQLite database ({size} bytes, header says "
            f"{page_count} pages of {page_size} bytes; {hint})"
        )


def read_only_message(path: Path) -> str:
    """The one line a write to a read-only database gets."""
    return (
        f"{path}: read-only (no write access to the database or to {path.parent}): "
        "commands that only read work, this one needs to write"
    )


def read_only_uri(path: Path) -> str:
    """The SQLite URI that reads ``path`` without writing anything beside it.

    A WAL database normally needs its ``-shm`` file, which SQLite creates
    and writes even to read. ``mode=ro`` works when the ``-wal`` and
    ``-shm`` files exist (SQLite >= 3.22 reads them without writing); when
    there is no ``-wal`` (a cleanly closed database: everything is in the
    main file) ``immutable=1`` reads the main file without any lock or
    ``-shm``. A ``-wal`` with committed pages but no ``-shm`` cannot be read
    from a read-only directory: :class:`StorageError` says so, rather than
    reading the main file without those pages.
    """
    if not path.exists() or path.stat().st_size == 0:
        raise StorageError(
            f"{path}: no database yet, and it cannot be created here "
            f"({path.parent} is read-only); commands that store data need write access"
        )
    base = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    if not wal.is_file() or wal.stat().st_size == 0:
        return base + "?immutable=1"
    uri = base + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StorageError(
            f"{path}: cannot be read from a read-only directory: its write-ahead log "
            f"({wal.name}) holds committed data that SQLite can only read with write access "
            f"to {path.parent} ({exc})"
        ) from None
    return uri


class SQLiteStorage(SQLStorage):
    """The ``sqlite`` storage backend.

    ``SQLiteStorage(config)`` opens (creating if needed) the database file of
    ``config`` (see :func:`database_path`); ``path=`` opens another file.
    Attributes: ``path`` (:class:`Path`), ``location`` (its string),
    ``applied_migrations`` (names applied by this open; empty when the file
    was up to date), ``interrupted`` (task ids marked interrupted on open).
    ``migrate=False`` opens without migrating or marking anything (for
    inspection only; the other methods need an up-to-date schema).
    ``read_only`` is true when this process cannot write the file or its
    directory (a read-only mount, a home without write permission): the
    file is then opened read-only (:func:`read_only_uri`), nothing is
    migrated or marked, reads work and every write raises
    :class:`StorageError` saying the database is read-only.

    Raises :class:`StorageError` when the file cannot be opened, is not an
    SQLite database, is corrupt or truncated, or was written by a newer
    az-sqlite.
    """

    driver_errors = (sqlite3.Error,)
    insertion_order = "rowid"

    def __init__(
        self,
        config: AzConfig | None = None,
        *,
        path: str | Path | None = None,
        migrate: bool = True,
    ) -> None:
        if path is None:
            if config is None:
                from az_os.config import load_config

                config = load_config()
            path = database_path(config)
        self.path = Path(path)
        self.location = str(self.path)
        check_file(self.path)
        self.read_only = not writable(self.path)
        target, params = self.location, {}
        if self.read_only:
            target, params = read_only_uri(self.path), {"uri": True}
        else:
            try:
                private_dir(self.path.parent)
                private_file(self.path)  # SQLite gives its -wal and -shm the same mode
            except OSError as exc:
                raise StorageError(f"{self.path}: cannot create it: {exc}") from None
        db = pw.SqliteDatabase(
            target,
            pragmas=[
                ("busy_timeout", int(BUSY_TIMEOUT_S * 1000)),
                ("synchronous", "normal"),
                ("foreign_keys", 1),
            ],
            timeout=BUSY_TIMEOUT_S,
            lock_type="IMMEDIATE",
            **params,
        )
        self.bind(db)
        self.applied_migrations: list[str] = []
        self.interrupted: list[str] = []
        self._open(migrate)

    @guard
    def _open(self, migrate: bool) -> None:
        try:
            # Refuse a file from a newer az-sqlite before anything writes to it.
            pending = migrations.pending_migrations(self.db, self.location)
            if self.read_only:
                if pending and migrate:
                    raise StorageError(
                        f"{self.location}: read-only, and the database needs migrating "
                        f"({', '.join(pending)}) before this az can read it: open it once "
                        "where it is writable"
                    )
            elif migrate:
                self._use_wal()
                self.applied_migrations = migrations.migrate(self.db, self.location)
                self.interrupted = self.mark_interrupted()
                self._keep_reserve()
        except BaseException:
            self.close()
            raise

    def _use_wal(self) -> None:
        """Put the file in WAL mode. WAL is a property of the file (it
        persists), so this is set once, not on every connection. Processes
        opening a new file at the same moment race for the switch, and SQLite
        may answer a loser "database is locked" without waiting on the busy
        timeout; the switch is then retried (10 ms doubling to 200 ms) until
        :data:`BUSY_TIMEOUT_S` has passed."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                row = self.db.execute_sql("PRAGMA journal_mode").fetchone()
                if row is None or str(row[0]).lower() != "wal":
                    self.db.execute_sql("PRAGMA journal_mode = wal")
                return
            except (pw.OperationalError, sqlite3.OperationalError) as exc:
                if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _reserve_path(self) -> Path:
        return self.path.with_name(self.path.name + "-reserve")

    def _keep_reserve(self) -> None:
        """Make sure :data:`RESERVE_BYTES` of real (not sparse) disk are set
        aside beside the database, if the disk has room for them."""
        reserve = self._reserve_path()
        try:
            if reserve.is_file() and reserve.stat().st_size >= RESERVE_BYTES:
                return
            fd = os.open(reserve, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\0" * RESERVE_BYTES)  # written, so the blocks are taken
            finally:
                os.close(fd)
        except OSError:
            reserve.unlink(missing_ok=True)  # no room for it now: the next open tries again

    def _release_reserve(self) -> bool:
        """Give the reserve's space back to the disk (when a write found it
        full), so the task's final status can still be recorded."""
        try:
            self._reserve_path().unlink()
            return True
        except OSError:
            return False

    def _error(self, exc: BaseException) -> StorageError:
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        low = msg.lower()
        if "disk is full" in low or "disk i/o error" in low or "no space" in low:
            self._release_reserve()
            return StorageError(
                f"{self.location}: the disk is full ({msg}); what was committed before is "
                "kept: free some space and run the command again"
            )
        if "malformed" in low or "not a database" in low or "corrupt" in low:
            return StorageError(
                f"{self.location}: database file is corrupt ({msg}); az will not write to it: "
                "restore a backup, or 'az db init --force' moves it aside and starts anew"
            )
        if "readonly" in low or "read-only" in low:
            return StorageError(read_only_message(self.path))
        if "unable to open" in low:
            return StorageError(f"{self.location}: cannot open the database file ({msg})")
        return StorageError(f"{self.location}: {msg}")

    # -- administration (az db) -----------------------------------------
    @guard
    def schema_info(self) -> dict[str, Any]:
        """``{"schema_version", "latest_version", "applied": [...], "pending":
        [...], "journal_mode", "tables": {name: rows}}`` for ``az db status``."""
        applied = migrations.applied_migrations(self.db)
        present = {
            r[0] for r in self.db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        return {
            "schema_version": migrations.user_version(self.db),
            "latest_version": migrations.LATEST_VERSION,
            "applied": applied,
            "pending": migrations.pending_migrations(self.db, self.location),
            "journal_mode": self.db.execute_sql("PRAGMA journal_mode").fetchone()[0],
            "tables": {
                t: self.db.execute_sql(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in TABLES
                if t in present
            },
        }

    @guard
    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``'s first line (``ok`` when sound)."""
        return str(self.db.execute_sql("PRAGMA integrity_check").fetchone()[0])

    @guard
    def checkpoint(self) -> None:
        """Copy the WAL into the main file and truncate the WAL."""
        self.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
