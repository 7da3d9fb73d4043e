"""The Storage contract on a real SQLite file: tasks, turns, logs, costs, state, tool usage."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from az_os.errors import NotFoundError, StorageError
from az_os.storage import TaskRepository
from az_os.types import (
    CostRecord,
    LogRecord,
    Message,
    Task,
    TaskPriority,
    TaskStatus,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _task(i: int, **kw: Any) -> Task:
    return Task(
        id=f"t{i:011d}", description=f"task {i}", created_at=T0 + timedelta(seconds=i), **kw
    )


def test_kernel_opens_sqlite_backend_at_az_home(storage: Any, az_home: Path) -> None:
    from az_os.redact import unwrap
    from az_sqlite.storage import SQLiteStorage

    # the kernel wraps every backend so its writes mask secrets (az_os.redact)
    assert isinstance(unwrap(storage), SQLiteStorage)
    assert Path(storage.location) == az_home / "az.db"
    assert (az_home / "az.db").read_bytes().startswith(b"SQLite format 3\x00")


def test_storage_path_from_config(az_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from az_os.drivers import get_storage

    monkeypatch.setenv("AZ_STORAGE__PATH", "sub/dir/tasks.db")
    s = get_storage()
    assert Path(s.location) == az_home / "sub" / "dir" / "tasks.db"
    s.create_task(Task(description="x"))
    assert (az_home / "sub" / "dir" / "tasks.db").exists()


def test_task_round_trip_keeps_every_field(storage: Any) -> None:
    task = Task(
        description="refactor primes.py",
        model="openai/gpt-4o-mini",
        status=TaskStatus.COMPLETED,
        priority=TaskPriority.URGENT,
        started_at=T0,
        completed_at=T0 + timedelta(seconds=3.25),
        result="done",
        error=None,
        cost_usd=0.012345,
        prompt_tokens=1234,
        completion_tokens=56,
        workspace="/tmp/ws",
        max_turns=9,
        max_cost_usd=0.5,
        approval="auto",
        pid=4242,
        host="builder",
    )
    storage.create_task(task)
    got = storage.get_task(task.id)
    assert got == task
    assert got.completed_at.tzinfo is not None and got.completed_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_taken_as_utc(storage: Any) -> None:
    t = Task(description="x", created_at=datetime(2026, 5, 1, 10, 0))
    storage.create_task(t)
    assert storage.get_task(t.id).created_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_duplicate_id_is_a_storage_error(storage: Any) -> None:
    t = storage.create_task(Task(description="a"))
    with pytest.raises(StorageError, match="already exists"):
        storage.create_task(Task(id=t.id, description="b"))
    assert storage.get_task(t.id).description == "a"


def test_get_by_unique_prefix_and_ambiguous_prefix(storage: Any) -> None:
    storage.create_task(Task(id="abc111111111", description="one"))
    storage.create_task(Task(id="abc222222222", description="two"))
    assert storage.get_task("abc1").description == "one"
    assert storage.get_task("abc") is None  # two match
    assert storage.get_task("zzz") is None
    assert storage.get_task("") is None


def test_update_writes_fields_and_bumps_updated_at(storage: Any) -> None:
    t = storage.create_task(Task(description="a", updated_at=T0))
    t.status = TaskStatus.FAILED
    t.error = "model unavailable"
    t.cost_usd = 1.5
    stored = storage.update_task(t)
    assert stored.updated_at > T0
    got = storage.get_task(t.id)
    assert (got.status, got.error, got.cost_usd) == (TaskStatus.FAILED, "model unavailable", 1.5)
    assert got.updated_at == stored.updated_at


def test_update_unknown_task_is_not_found(storage: Any) -> None:
    with pytest.raises(NotFoundError):
        storage.update_task(Task(description="never stored"))


def test_running_task_records_pid_and_host(storage: Any) -> None:
    import os
    import socket

    t = storage.create_task(Task(description="x", status=TaskStatus.RUNNING))
    got = storage.get_task(t.id)
    assert (got.pid, got.host) == (os.getpid(), socket.gethostname())


def test_list_filters_order_and_pages(storage: Any) -> None:
    for i in range(30):
        storage.create_task(
            _task(
                i,
                status=TaskStatus.COMPLETED if i % 3 else TaskStatus.FAILED,
                priority=TaskPriority.HIGH if i % 2 else TaskPriority.LOW,
            )
        )
    newest = storage.list_tasks(limit=5)
    assert [t.id for t in newest] == [f"t{i:011d}" for i in (29, 28, 27, 26, 25)]
    page2 = storage.list_tasks(limit=5, offset=5)
    assert [t.id for t in page2] == [f"t{i:011d}" for i in (24, 23, 22, 21, 20)]
    failed = storage.list_tasks(status=TaskStatus.FAILED, limit=100)
    assert {t.id for t in failed} == {f"t{i:011d}" for i in range(0, 30, 3)}
    both = storage.list_tasks(status="failed", priority="high", limit=100)
    assert {t.id for t in both} == {f"t{i:011d}" for i in (3, 9, 15, 21, 27)}
    assert storage.count_tasks() == 30
    assert storage.count_tasks(status=TaskStatus.FAILED) == 10
    assert storage.count_tasks(status="failed", priority="high") == 5
    assert len(storage.list_tasks(limit=None)) == 30


def test_same_created_at_keeps_insertion_order_newest_first(storage: Any) -> None:
    ids = [storage.create_task(Task(description=str(i), created_at=T0)).id for i in range(5)]
    assert [t.id for t in storage.list_tasks()] == ids[::-1]


def test_subtasks_by_parent(storage: Any) -> None:
    parent = storage.create_task(Task(description="parent"))
    kids = [
        storage.create_task(Task(description=f"k{i}", parent_task_id=parent.id)) for i in range(3)
    ]
    storage.create_task(Task(description="other"))
    assert {t.id for t in storage.list_tasks(parent_task_id=parent.id)} == {k.id for k in kids}
    with pytest.raises(NotFoundError):
        storage.create_task(Task(description="orphan", parent_task_id="nope"))


def _turn(task_id: str, index: int) -> Turn:
    call = ToolCall(
        id=f"call_{index}", name="filesystem.read", arguments={"path": "a.py", "n": index}
    )
    return Turn(
        task_id=task_id,
        index=index,
        model="local/smollm2-135m-instruct",
        messages=[
            Message(role="assistant", content=f"reading {index}", tool_calls=[call]),
            Message(role="tool", tool_call_id=call.id, name=call.name, content="print('hi')"),
        ],
        tool_calls=[call],
        tool_results=[ToolResult(success=True, result={"text": "print('hi')"}, duration_ms=1.5)],
        usage=Usage(
            prompt_tokens=100 + index, completion_tokens=7, cached_tokens=3, cost_usd=0.0001
        ),
        model_duration_ms=120.0,
        tools_duration_ms=1.5,
    )


def test_turns_round_trip_in_order(storage: Any) -> None:
    t = storage.create_task(Task(description="x"))
    turns = [_turn(t.id, i) for i in (1, 2, 3)]
    for turn in reversed(turns):
        storage.add_turn(turn)
    assert storage.list_turns(t.id) == turns


def test_same_turn_index_again_replaces_it(storage: Any) -> None:
    t = storage.create_task(Task(description="x"))
    storage.add_turn(_turn(t.id, 1))
    redo = _turn(t.id, 1).replace(model="other/model")
    storage.add_turn(redo)
    turns = storage.list_turns(t.id)
    assert len(turns) == 1 and turns[0].model == "other/model"


def test_writes_for_unknown_task_are_not_found(storage: Any) -> None:
    with pytest.raises(NotFoundError):
        storage.add_turn(_turn("missing", 1))
    with pytest.raises(NotFoundError):
        storage.add_log(LogRecord(task_id="missing", message="x"))
    with pytest.raises(NotFoundError):
        storage.save_state("missing", {})


def test_logs_filters_level_minimum_since_and_tail_limit(storage: Any) -> None:
    a = storage.create_task(Task(description="a"))
    b = storage.create_task(Task(description="b"))
    levels = ["debug", "info", "warning", "error"]
    for i in range(12):
        storage.add_log(
            LogRecord(
                task_id=a.id if i % 2 == 0 else b.id,
                level=levels[i % 4],
                message=f"m{i}",
                timestamp=T0 + timedelta(minutes=i),
            )
        )
    storage.add_log(LogRecord(message="no task", timestamp=T0 + timedelta(minutes=20)))
    everything = storage.list_logs()
    assert [r.message for r in everything] == [f"m{i}" for i in range(12)] + ["no task"]
    assert [r.message for r in storage.list_logs(level="warning")] == [
        f"m{i}" for i in range(12) if i % 4 >= 2
    ]
    assert [r.message for r in storage.list_logs(level="ERROR")] == ["m3", "m7", "m11"]
    assert [r.message for r in storage.list_logs(task_id=a.id)] == [
        f"m{i}" for i in range(0, 12, 2)
    ]
    since = storage.list_logs(since=T0 + timedelta(minutes=10))
    assert [r.message for r in since] == ["m10", "m11", "no task"]
    assert [r.message for r in storage.list_logs(limit=2)] == ["m11", "no task"]
    combined = storage.list_logs(task_id=a.id, level="info", since=T0 + timedelta(minutes=4))
    assert [r.message for r in combined] == ["m6", "m10"]
    with pytest.raises(StorageError, match="unknown log level"):
        storage.list_logs(level="loud")


def test_costs_filters_and_totals(storage: Any) -> None:
    t = storage.create_task(Task(description="x"))
    for i in range(5):
        storage.add_cost(
            CostRecord(
                task_id=t.id if i < 3 else None,
                model="openai/gpt-4o-mini",
                input_tokens=1000,
                output_tokens=100,
                cached_tokens=200,
                cost_usd=0.25,
                timestamp=T0 + timedelta(days=i),
            )
        )
    assert len(storage.list_costs()) == 5
    assert storage.list_costs()[0].cached_tokens == 200
    window = storage.list_costs(since=T0 + timedelta(days=1), until=T0 + timedelta(days=3))
    assert [c.timestamp for c in window] == [T0 + timedelta(days=1), T0 + timedelta(days=2)]
    assert storage.total_cost() == pytest.approx(1.25)
    assert storage.total_cost(task_id=t.id) == pytest.approx(0.75)
    assert storage.total_cost(since=T0 + timedelta(days=4)) == pytest.approx(0.25)
    assert storage.total_cost(since=T0 + timedelta(days=30)) == 0.0


def test_tool_usage_accumulates_per_task_and_in_total(storage: Any) -> None:
    a = storage.create_task(Task(description="a"))
    b = storage.create_task(Task(description="b"))
    for ms in (10.0, 20.0):
        storage.record_tool_usage(a.id, "shell.execute", ms)
    storage.record_tool_usage(b.id, "shell.execute", 5.0)
    storage.record_tool_usage(b.id, "filesystem.read", 1.0)
    storage.record_tool_usage(None, "filesystem.read", 2.0)
    per_a = storage.list_tool_usage(a.id)
    assert [(u.tool_name, u.invocation_count, u.total_duration_ms) for u in per_a] == [
        ("shell.execute", 2, 30.0)
    ]
    total = {
        u.tool_name: (u.invocation_count, u.total_duration_ms) for u in storage.list_tool_usage()
    }
    assert total == {"shell.execute": (3, 35.0), "filesystem.read": (2, 3.0)}


def test_state_is_replaced_and_loaded(storage: Any) -> None:
    t = storage.create_task(Task(description="x"))
    assert storage.load_state(t.id) is None
    storage.save_state(t.id, {"messages": [{"role": "user", "content": "hi"}]}, checkpoint_id="c1")
    storage.save_state(t.id, {"turn": 2, "when": T0}, checkpoint_id="c2")
    assert storage.load_state(t.id) == {"turn": 2, "when": str(T0)}


def test_delete_removes_task_and_everything_recorded_for_it(storage: Any) -> None:
    t = storage.create_task(Task(description="doomed"))
    keep = storage.create_task(Task(description="kept"))
    child = storage.create_task(Task(description="child", parent_task_id=t.id))
    storage.add_turn(_turn(t.id, 1))
    storage.add_log(LogRecord(task_id=t.id, message="x"))
    storage.add_log(LogRecord(task_id=keep.id, message="y"))
    storage.add_cost(CostRecord(task_id=t.id, model="m", cost_usd=1.0))
    storage.save_state(t.id, {"a": 1})
    storage.record_tool_usage(t.id, "shell.execute", 1.0)
    assert storage.delete_task(t.id) is True
    assert storage.get_task(t.id) is None
    assert storage.list_turns(t.id) == []
    assert [r.message for r in storage.list_logs()] == ["y"]
    assert storage.total_cost() == 0.0
    assert storage.load_state(t.id) is None
    assert storage.list_tool_usage() == []
    assert storage.get_task(child.id).parent_task_id is None
    assert storage.delete_task(t.id) is False
    counts = storage.schema_info()["tables"]
    assert counts["turns"] == counts["cost_tracking"] == counts["task_state"] == 0


def test_threads_share_one_storage(storage: Any) -> None:
    t = storage.create_task(Task(description="x"))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                storage.add_log(LogRecord(task_id=t.id, message=f"{n}-{i}"))
                storage.record_tool_usage(t.id, "tool", 1.0)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(storage.list_logs(task_id=t.id)) == 300
    assert storage.list_tool_usage(t.id)[0].invocation_count == 300


# -- async ----------------------------------------------------------------
def test_task_repository_from_async_code(storage: Any) -> None:
    repo = TaskRepository(storage)

    async def main() -> None:
        created = await asyncio.gather(*(repo.create(_task(i)) for i in range(20)))
        assert len(created) == 20
        got = await repo.get(created[0].id)
        assert got is not None and got.description == "task 0"
        got.status = TaskStatus.COMPLETED
        await repo.update(got)
        done = await repo.list(status=TaskStatus.COMPLETED)
        assert [t.id for t in done] == [got.id]
        page = await repo.list(limit=5, offset=2)
        assert [t.description for t in page] == [
            "task 17",
            "task 16",
            "task 15",
            "task 14",
            "task 13",
        ]
        assert await repo.delete(got.id) is True
        assert await repo.get(got.id) is None

    asyncio.run(main())


def test_waiting_for_the_write_lock_does_not_block_the_event_loop(storage: Any) -> None:
    """Another connection holds the write lock for 0.6 s; while ``repo.create``
    waits for it (busy_timeout), other coroutines keep running."""
    repo = TaskRepository(storage)
    holder = sqlite3.connect(storage.location, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(0.6)
        holder.execute("COMMIT")

    async def main() -> tuple[int, float]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        releaser = asyncio.create_task(asyncio.to_thread(release))
        start = time.perf_counter()
        await repo.create(Task(description="waits for the lock"))
        waited = time.perf_counter() - start
        stop.set()
        await tick_task
        await releaser
        return ticks, waited

    try:
        ticks, waited = asyncio.run(main())
    finally:
        holder.close()
    assert waited >= 0.5  # it really waited for the lock...
    assert ticks >= 20  # ...while the loop kept ticking every 10 ms
    assert storage.count_tasks() == 1
