"""SQLite-specific storage behaviour on a real file. The Storage contract itself
(tasks, turns, logs, costs, state, tool usage) is tests/test_storage_contract.py,
run against every installed backend."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from az_os.storage import TaskRepository
from az_os.types import (
    CostRecord,
    LogRecord,
    Message,
    Task,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


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


# -- async ----------------------------------------------------------------
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
