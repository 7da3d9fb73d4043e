"""Migrations: a new file gets every one, an older file is upgraded in place
keeping its rows, a newer file is refused untouched, racing openers apply
each migration once."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from az_os.errors import StorageError
from az_sqlite import migrations
from az_sqlite.storage import SQLiteStorage

NAMES = [m.__name__ for m in migrations.MIGRATIONS]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_v1(path: Path) -> None:
    """A database as the first release left it: only m001 applied, one task."""
    import peewee as pw

    db = pw.SqliteDatabase(str(path))
    with db.atomic():
        db.execute_sql("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        migrations.m001_initial(db)
        db.execute_sql("INSERT INTO _migrations VALUES ('m001_initial', ?)", (time.time(),))
        db.execute_sql("PRAGMA user_version = 1")
        db.execute_sql(
            "INSERT INTO tasks (id, description, status, priority, created_at, updated_at,"
            " cost_usd) VALUES ('old000000001', 'from v1', 'completed', 'high',"
            " 1700000000.5, 1700000001, 0.25)"
        )
        db.execute_sql(
            "INSERT INTO cost_tracking (task_id, model, input_tokens, output_tokens, cost_usd,"
            " timestamp) VALUES ('old000000001', 'openai/gpt-4o', 10, 5, 0.25, 1700000000.7)"
        )
    db.close()


def test_new_database_gets_every_migration(tmp_path: Path) -> None:
    s = SQLiteStorage(path=tmp_path / "new.db")
    assert s.applied_migrations == NAMES
    info = s.schema_info()
    assert info["schema_version"] == len(NAMES) == info["latest_version"]
    assert info["pending"] == [] and info["journal_mode"] == "wal"
    s.close()
    again = SQLiteStorage(path=tmp_path / "new.db")
    assert again.applied_migrations == []


def test_older_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _make_v1(path)
    s = SQLiteStorage(path=path)
    assert s.applied_migrations == NAMES[1:]
    task = s.get_task("old000000001")
    assert task is not None
    assert (task.description, task.status.value, task.priority.value) == (
        "from v1",
        "completed",
        "high",
    )
    assert task.created_at.timestamp() == 1700000000.5
    assert (task.max_turns, task.approval, task.pid) == (5, "ask", None)  # new columns, defaults
    cost = s.list_costs()[0]
    assert (cost.cost_usd, cost.cached_tokens) == (0.25, 0)
    assert s.list_turns(task.id) == []  # the turns table exists now
    assert s.schema_info()["schema_version"] == len(NAMES)


def test_status_sees_pending_migrations_without_applying_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _make_v1(path)
    s = SQLiteStorage(path=path, migrate=False)
    info = s.schema_info()
    assert info["schema_version"] == 1
    assert info["pending"] == NAMES[1:]
    assert "turns" not in info["tables"] and info["tables"]["tasks"] == 1


def test_newer_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStorage(path=path).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO _migrations VALUES ('m099_from_the_future', 0)")
    con.execute(f"PRAGMA user_version = {len(NAMES) + 1}")
    con.commit()
    con.execute("PRAGMA journal_mode = delete")  # as an older tool might leave it
    con.close()
    before = _digest(path)
    with pytest.raises(StorageError) as err:
        SQLiteStorage(path=path)
    msg = str(err.value)
    assert str(path) in msg and "newer az-sqlite" in msg and "m099_from_the_future" in msg
    assert "\n" not in msg
    assert _digest(path) == before


def test_unknown_migration_name_alone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "branch.db"
    _make_v1(path)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO _migrations VALUES ('m002_something_else', 0)")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="m002_something_else"):
        SQLiteStorage(path=path)


RACE = """
import sys
from az_sqlite.storage import SQLiteStorage
s = SQLiteStorage(path=sys.argv[1])
print(",".join(s.applied_migrations))
"""


@pytest.mark.slow
def test_processes_opening_a_new_file_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    procs = [
        subprocess.Popen([sys.executable, "-c", RACE, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    applied = [name for out in outs for name in out.split(",") if name]
    assert sorted(applied) == sorted(NAMES)  # each applied by exactly one process
    con = sqlite3.connect(path)
    assert [r[0] for r in con.execute("SELECT name FROM _migrations ORDER BY rowid")] == NAMES
    con.close()
