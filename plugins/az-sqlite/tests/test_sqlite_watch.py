"""Watching tasks: changed since a time, text search, turn counts — the
indexed SQLite queries agree with the contract's generic defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from az_os.storage import Storage
from az_os.types import Task, TaskStatus, Turn

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _fill(storage: Any, n: int = 30) -> list[Task]:
    tasks = []
    for i in range(n):
        t = Task(
            id=f"w{i:011d}",
            description=f"task {i} {'refactor_parser 100%' if i % 7 == 0 else 'list files'}",
            model="scripted/cheap" if i % 2 else None,
            status=TaskStatus.COMPLETED if i % 3 else TaskStatus.FAILED,
            created_at=T0 + timedelta(seconds=i),
            updated_at=T0 + timedelta(seconds=i),
        )
        tasks.append(storage.create_task(t))
    return tasks


def test_updated_since_returns_changed_tasks_oldest_change_first(storage: Any) -> None:
    tasks = _fill(storage)
    since = T0 + timedelta(seconds=25)
    got = storage.list_tasks_updated_since(since)
    assert [t.id for t in got] == [t.id for t in tasks[25:]]
    assert got == Storage.list_tasks_updated_since(storage, since)
    # an update moves a task to the end, with a fresh updated_at
    storage.update_task(tasks[3].replace(status=TaskStatus.CANCELLED))
    got = storage.list_tasks_updated_since(since)
    assert got[-1].id == tasks[3].id and got[-1].status == TaskStatus.CANCELLED
    assert [t.id for t in storage.list_tasks_updated_since(since, limit=2)] == [
        tasks[25].id,
        tasks[26].id,
    ]
    assert storage.list_tasks_updated_since(datetime.now(UTC) + timedelta(hours=1)) == []


def test_the_updated_at_index_serves_the_query(storage: Any) -> None:
    plan = storage.db.execute_sql(
        "EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE updated_at >= ? ORDER BY updated_at", (0.0,)
    ).fetchall()
    assert "tasks_updated_at" in " ".join(str(r) for r in plan)


def test_search_matches_id_description_model_case_insensitive(storage: Any) -> None:
    tasks = _fill(storage)
    got = storage.search_tasks("REFACTOR_parser 100%")
    assert [t.id for t in got] == [t.id for t in reversed(tasks) if "refactor" in t.description]
    assert got == Storage.search_tasks(storage, "REFACTOR_parser 100%")
    # % and _ are literal characters, not wildcards
    assert storage.search_tasks("refactorXparser") == []
    assert storage.search_tasks("100_") == []
    assert [t.id for t in storage.search_tasks("w00000000012")] == [tasks[12].id]
    assert len(storage.search_tasks("scripted/", limit=100)) == 15
    failed = storage.search_tasks("task", status=TaskStatus.FAILED, limit=100)
    assert failed == Storage.search_tasks(storage, "task", status=TaskStatus.FAILED, limit=100)
    assert {t.status for t in failed} == {TaskStatus.FAILED} and len(failed) == 10
    page = storage.search_tasks("task", limit=5, offset=5)
    assert page == Storage.search_tasks(storage, "task", limit=5, offset=5)
    assert [t.id for t in page] == [t.id for t in reversed(tasks)][5:10]


def test_count_turns_per_task(storage: Any) -> None:
    tasks = _fill(storage, 3)
    for i in range(1, 4):
        storage.add_turn(Turn(task_id=tasks[0].id, index=i))
    storage.add_turn(Turn(task_id=tasks[2].id, index=1))
    ids = [t.id for t in tasks] + ["nope"]
    assert storage.count_turns(ids) == {tasks[0].id: 3, tasks[1].id: 0, tasks[2].id: 1, "nope": 0}
    assert storage.count_turns(ids) == Storage.count_turns(storage, ids)
    assert storage.count_turns([]) == {}
