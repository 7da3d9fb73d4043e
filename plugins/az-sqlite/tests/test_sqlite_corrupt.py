"""Files that are not a sound SQLite database: a one-line StorageError naming
the file, from the API and from the CLI, and the file is never written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from az_os.errors import StorageError
from az_os.types import LogRecord, Task
from az_sqlite.storage import SQLiteStorage


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _real_db(path: Path, tasks: int = 300) -> None:
    s = SQLiteStorage(path=path)
    for i in range(tasks):
        t = s.create_task(Task(description=f"task {i} " + "x" * 200))
        s.add_log(LogRecord(task_id=t.id, message="y" * 300))
    s.checkpoint()
    s.close()
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.unlink()


def _assert_refused(path: Path) -> str:
    before = _digest(path)
    with pytest.raises(StorageError) as err:
        s = SQLiteStorage(path=path)
        s.list_tasks()  # a corruption only a query can find
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    assert _digest(path) == before
    return msg


def test_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    path.write_text("these are my notes, not a database\n" * 10)
    assert "not an SQLite database" in _assert_refused(path)


def test_short_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    path.write_bytes(b"\x00\x01garbage")
    assert "not an SQLite database" in _assert_refused(path)


def test_truncated_database(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    _real_db(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in _assert_refused(path)


def test_truncated_mid_page(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    _real_db(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    assert "truncated" in _assert_refused(path)


def test_overwritten_pages_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    _real_db(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for n in range(1, len(data) // page):  # every page but the first (schema) one
        data[n * page : n * page + 64] = os.urandom(64)
    path.write_bytes(bytes(data))
    msg = _assert_refused(path)
    assert "corrupt" in msg or "malformed" in msg


def test_directory_in_place_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    path.mkdir()
    with pytest.raises(StorageError, match="not a regular file"):
        SQLiteStorage(path=path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    _real_db(path, tasks=1)
    path.chmod(0)
    try:
        with pytest.raises(StorageError, match="cannot read"):
            SQLiteStorage(path=path)
    finally:
        path.chmod(0o600)


def test_empty_file_becomes_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    path.touch()
    s = SQLiteStorage(path=path)
    assert s.count_tasks() == 0


@pytest.mark.parametrize(
    "args", [["task", "list"], ["task", "show", "abc"], ["log", "show"], ["db", "status"]]
)
def test_cli_gives_one_line_and_keeps_the_file(az: Any, az_home: Path, args: list[str]) -> None:
    path = az_home / "az.db"
    path.write_text("not a database")
    r = az(*args)
    assert r.returncode == 5, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("az: error:") and str(path) in lines[0], r
    assert "Traceback" not in r.stderr
    assert path.read_text() == "not a database"


def test_db_init_force_moves_a_corrupt_file_aside(az: Any, az_home: Path) -> None:
    path = az_home / "az.db"
    path.write_text("not a database")
    r = az("db", "init")
    assert r.returncode == 5 and "--force" in r.stderr, r
    r = az("db", "init", "--force", "--yes")
    assert r.returncode == 0, r
    backups = list(az_home.glob("az.db.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == "not a database"
    assert az("task", "list", "--json").json() == []


def test_a_checkpoint_cut_short_by_a_full_disk_is_not_called_corrupt(tmp_path: Path) -> None:
    """A full disk stops a checkpoint after the header is written but before
    every page is: the file is shorter than its header says, but the pages are
    still in the write-ahead log, and SQLite reads them from there. az must
    open it and lose nothing, not call it truncated (which once pushed users
    towards 'az db init --force' on a sound database)."""
    import shutil
    import sqlite3

    path = tmp_path / "az.db"
    s = SQLiteStorage(path=path)
    s.create_task(Task(description="before"))
    s.checkpoint()  # everything so far is in the main file
    old_size = path.stat().st_size
    s.db.execute_sql("PRAGMA wal_autocheckpoint=0")  # every new page stays in the WAL
    for i in range(300):
        s.create_task(Task(description=f"task {i} " + "x" * 400))
    # copy the new pages into the main file but keep the WAL (what a checkpoint
    # does first), then cut the file back as a full disk would have
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
    raw.close()
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("az.db", "az.db-wal"):
        shutil.copy(tmp_path / name, crashed / name)
    s.close()
    db = crashed / "az.db"
    assert db.stat().st_size > old_size
    with db.open("r+b") as f:
        f.truncate(old_size)
    reopened = SQLiteStorage(path=db)
    try:
        assert reopened.count_tasks() == 301
        assert {t.description for t in reopened.list_tasks(limit=400)} >= {
            "before",
            "task 299 " + "x" * 400,
        }
    finally:
        reopened.close()
    ok = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
    assert ok == "ok"


def test_a_truncated_file_without_a_wal_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    _real_db(path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2 // 4096 * 4096)
    assert "truncated SQLite database" in _assert_refused(path)
