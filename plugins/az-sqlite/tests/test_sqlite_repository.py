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
    Task,
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
