"""SQLiteRepository (the brief's Python API) on a real az database: values
only as parameters, names checked against the schema, and attempts to get
SQL in through a table name, a column name or a where condition refused
before anything runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from az_os.errors import StorageError, UsageError
from az_os.types import Task
from az_sqlite import SQLiteRepository


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def repo(storage: Any) -> Any:
    r = SQLiteRepository()
    yield r
    r.close()


def test_crud_round_trip_on_azs_own_tables(repo, storage, az_home: Path):
    assert repo.path == az_home / "az.db"
    task = storage.create_task(Task(description="seed"))
    rows = run(repo.fetch_all("SELECT id, description FROM tasks WHERE id = :id", {"id": task.id}))
    assert rows == [{"id": task.id, "description": "seed"}]
    rowid = run(
        repo.insert(
            "task_logs",
            {"task_id": task.id, "timestamp": 1.0, "level": "info", "message": "from python"},
        )
    )
    assert isinstance(rowid, int) and rowid > 0
    assert [r.message for r in storage.list_logs(task_id=task.id)] == ["from python"]
    changed = run(repo.update("tasks", {"description": "renamed"}, "id = :id", {"id": task.id}))
    assert changed == 1 and storage.get_task(task.id).description == "renamed"
    one = run(
        repo.fetch_one("SELECT count(*) AS n FROM task_logs WHERE task_id = :t", {"t": task.id})
    )
    assert one == {"n": 1}
    assert run(repo.fetch_one("SELECT id FROM tasks WHERE id = :id", {"id": "nope"})) is None
    # deleting a task cascades to its log rows
    assert run(repo.delete("tasks", "id = :id AND status IS NOT NULL", {"id": task.id})) == 1
    assert storage.get_task(task.id) is None
    assert run(repo.fetch_all("SELECT * FROM task_logs WHERE task_id = :t", {"t": task.id})) == []
    assert (
        run(
            repo.execute(
                "UPDATE tasks SET description = :d WHERE id = :id", {"d": "x", "id": "none"}
            )
        )
        == 0
    )


def test_a_value_is_only_ever_a_value(repo, storage):
    hostile = "x'); DROP TABLE tasks; --"
    task = storage.create_task(Task(description="seed"))
    run(repo.update("tasks", {"description": hostile}, "id = :id", {"id": task.id}))
    assert storage.get_task(task.id).description == hostile
    rows = run(repo.fetch_all("SELECT id FROM tasks WHERE description = :d", {"d": hostile}))
    assert rows == [{"id": task.id}]


@pytest.mark.parametrize(
    "table",
    [
        "tasks; DROP TABLE tasks",
        'tasks" (id) VALUES (1); DROP TABLE tasks; --',
        "sqlite_master",
        "no_such_table",
        "TASKS ",
    ],
)
def test_table_names_are_checked_against_the_schema(repo, storage, table):
    with pytest.raises(UsageError, match="no table"):
        run(repo.insert(table, {"id": "x"}))
    with pytest.raises(UsageError, match="no table"):
        run(repo.delete(table, "id = :id", {"id": "x"}))
    assert "tasks" in {r["name"] for r in run(repo.fetch_all("SELECT name FROM sqlite_master"))}


@pytest.mark.parametrize(
    "column",
    [
        'description" = 1, "status',
        "description = (SELECT group_concat(id) FROM tasks) --",
        "no_such_column",
    ],
)
def test_column_names_are_checked_against_the_schema(repo, storage, column):
    task = storage.create_task(Task(description="seed"))
    with pytest.raises(UsageError, match="no column"):
        run(repo.update("tasks", {column: "x"}, "id = :id", {"id": task.id}))
    with pytest.raises(UsageError, match="no column"):
        run(repo.insert("tasks", {"id": "t2", column: "x"}))
    assert storage.get_task(task.id).description == "seed"


@pytest.mark.parametrize(
    ("where", "params", "error"),
    [
        ("id = :id OR 1 = 1", {"id": "x"}, "'1 = 1'"),
        ("id = 'x' OR ''=''", {}, "is not allowed"),
        ("id = :id; DROP TABLE tasks", {"id": "x"}, "is not allowed"),
        ("id = :id -- comment", {"id": "x"}, "is not allowed"),
        ("id = :id OR id IN (SELECT id FROM tasks)", {"id": "x"}, "no column 'SELECT'"),
        ("lower(id) = :id", {"id": "x"}, "no column 'lower'"),
        ("id = ?", {}, "is not allowed"),
        ("id = :id", {}, "no value for :id"),
        ("id = :id", {"id": "x", "other": 1}, "'other' is not used"),
        ("", {}, "a where condition is required"),
        ("id = :az_set_0", {"az_set_0": "x"}, "reserved"),
    ],
)
def test_where_is_checked_token_by_token(repo, storage, where, params, error):
    task = storage.create_task(Task(description="seed"))
    with pytest.raises(UsageError, match=re.escape(error)):
        run(repo.update("tasks", {"description": "pwned"}, where, params))
    with pytest.raises(UsageError):
        run(repo.delete("tasks", where, params))
    assert storage.get_task(task.id).description == "seed"


def test_where_language_covers_ordinary_conditions(repo, storage):
    for i in range(3):
        storage.create_task(Task(description=f"t{i}"))
    where = "(description LIKE :p OR description IN (:a, :b)) AND NOT cost_usd BETWEEN :lo AND :hi"
    params = {"p": "t0", "a": "t1", "b": "zz", "lo": 1, "hi": 2}
    assert run(repo.update("tasks", {"error": "flagged"}, where, params)) == 2
    assert run(repo.delete("tasks", "error IS NULL", {})) == 1


def test_sqlite_errors_are_storage_errors(repo, storage):
    with pytest.raises(StorageError, match="syntax error|no such table"):
        run(repo.execute("SELEC nothing"))
    with pytest.raises(StorageError, match="one statement"):
        run(repo.execute("SELECT 1; SELECT 2"))
    with pytest.raises(StorageError, match="UNIQUE|constraint"):
        task = storage.create_task(Task(description="x"))
        run(repo.insert("tasks", {"id": task.id, "description": "dup", "status": "pending",
                                  "priority": "medium", "created_at": 0, "updated_at": 0}))  # fmt: skip
    with pytest.raises(UsageError, match="dict"):
        run(repo.execute("SELECT :a", ["x"]))  # type: ignore[arg-type]


def test_another_az_database_file(tmp_path: Path, az_home: Path):
    repo = SQLiteRepository(tmp_path / "other.db")
    try:
        assert run(repo.fetch_one("SELECT count(*) AS n FROM tasks")) == {"n": 0}  # migrated
    finally:
        repo.close()
    assert not (az_home / "az.db").exists()
