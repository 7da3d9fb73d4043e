"""Fixtures: a fresh az home with a real SQLite database, the kernel's
scripted model plugin registered in-process, fixed data and a fixed clock
for snapshots (``az_home``, ``az`` and ``scripted_env`` come from az_os.testing)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from az_os import hookimpl
from az_os.types import (
    CostRecord,
    HealthResult,
    Message,
    Task,
    TaskStatus,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
)

#: "Now" for snapshots and seeded data.
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
METRICS = {
    "cpu_pct": 12.0,
    "memory_pct": 41.0,
    "memory_used_bytes": 3.5 * 2**30,
    "disk_pct": 63.0,
    "load_1m": 0.42,
}


@pytest.fixture(autouse=True, scope="session")
def _utc() -> Iterator[None]:
    """Local time is UTC, so days and periods do not depend on the machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def home(az_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An az home with only the tools and SQLite plugins from entry points
    (whatever else is installed), plus the scripted model plugin."""
    import az_os.scripted
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "tools,sqlite")
    get_host().register(az_os.scripted, "scripted")
    az_os.scripted.set_script([], "scripted/cheap")
    return az_home


def only_plugins(monkeypatch: pytest.MonkeyPatch, names: str) -> None:
    """Load only ``names`` (comma-separated) from entry points, plus the scripted model."""
    import az_os.scripted
    from az_os.plugins import get_host, reset_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", names)
    reset_host()
    get_host().register(az_os.scripted, "scripted")


@pytest.fixture
def storage(home: Path) -> Any:
    from az_os.drivers import get_storage

    return get_storage()


class HealthPlugin:
    """A health plugin as a user would install one: two named checks."""

    @staticmethod
    @hookimpl
    def az_health_checks(register: Any) -> None:
        register(
            "database", lambda: HealthResult(name="database", status="ok", detail="az.db 2 MB")
        )
        register(
            "provider.openai",
            lambda: HealthResult(
                name="provider.openai", status="degraded", detail="no OPENAI_API_KEY"
            ),
        )


def seed(storage: Any, n: int = 40) -> list[Task]:
    """``n`` tasks with fixed ids and times (five minutes apart, the newest
    five minutes before NOW), three turns for the newest, cost rows for the
    twelve days up to NOW."""
    statuses = [
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.COMPLETED,
        TaskStatus.CANCELLED,
        TaskStatus.RUNNING,
        TaskStatus.INTERRUPTED,
    ]
    words = [
        "count the files",
        "refactor the parser",
        "summarise README.md",
        "fix the failing test",
    ]
    tasks = []
    for i in range(n):
        when = NOW - timedelta(minutes=5 * (n - i))
        t = Task(
            id=f"a{i:03d}5e7c0d1f",
            description=f"{words[i % len(words)]} (#{i})",
            status=statuses[i % len(statuses)],
            model="scripted/cheap" if i % 3 else "anthropic/claude-sonnet-4-5",
            created_at=when,
            updated_at=when,
            prompt_tokens=350 * (i + 1),
            completion_tokens=40 * (i + 1),
            cost_usd=0.00037 * (i + 1),
            workspace="/work/project",
            approval="ask",
        )
        tasks.append(storage.create_task(t))
    last = tasks[-1]
    for k in (1, 2):
        storage.add_turn(
            Turn(
                task_id=last.id,
                index=k,
                model="scripted/cheap",
                messages=[Message(role="assistant", content=f"I should look at the files ({k})")],
                tool_calls=[
                    ToolCall(id=f"call_{k}", name="filesystem.list", arguments={"path": "."})
                ],
                tool_results=[
                    ToolResult(success=True, result=["README.md", "parser.py"], duration_ms=2.5)
                ],
                usage=Usage(prompt_tokens=420, completion_tokens=20, cost_usd=0.000046),
                model_duration_ms=180.0,
                tools_duration_ms=3.0,
                created_at=NOW - timedelta(seconds=30 - k),
            )
        )
    storage.add_turn(
        Turn(
            task_id=last.id,
            index=3,
            model="scripted/cheap",
            messages=[Message(role="assistant", content="There are 2 files.")],
            usage=Usage(prompt_tokens=470, completion_tokens=8, cost_usd=0.000049),
            model_duration_ms=95.0,
            created_at=NOW - timedelta(seconds=20),
        )
    )
    for d in range(12):
        for j, model in enumerate(("scripted/cheap", "anthropic/claude-sonnet-4-5")):
            storage.add_cost(
                CostRecord(
                    task_id=None,
                    model=model,
                    input_tokens=1000 * (d + 1),
                    output_tokens=100,
                    cost_usd=round(0.05 * (d % 5 + 1) * (1 + 9 * j), 4),
                    timestamp=NOW - timedelta(days=d, hours=1),
                )
            )
    return tasks


def table_laid_out(table: Any, rows: int) -> bool:
    """Whether ``table`` (a DataTable) holds ``rows`` rows and has sized its
    columns to them: a DataTable measures new rows on its next idle, so a
    screenshot taken between the two shows the header at its labels' widths."""
    from rich.cells import cell_len

    if table.row_count != rows:
        return False
    for i, column in enumerate(table.ordered_columns):
        widest = max(
            (cell_len(str(table.get_row_at(r)[i])) for r in range(rows)),
            default=0,
        )
        if column.content_width < widest:
            return False
    return True


async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Let the app run until ``cond()`` is truthy (its value), or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {cond}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)
