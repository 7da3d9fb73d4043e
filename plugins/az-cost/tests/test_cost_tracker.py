"""The CostTracker API over the real SQLite backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from az_cost.tracker import CostTracker
from az_os.types import CostRecord, Task


def at(*args: int) -> datetime:
    """A local wall-clock time (TZ set by the local_tz fixture), aware."""
    return datetime(*args).astimezone()


def add(
    storage: Any,
    when: datetime,
    usd: float,
    model: str = "m/a",
    task_id: str | None = None,
    inp: int = 100,
    out: int = 10,
    cached: int = 0,
) -> None:
    storage.add_cost(
        CostRecord(
            task_id=task_id,
            model=model,
            input_tokens=inp,
            output_tokens=out,
            cached_tokens=cached,
            cost_usd=usd,
            timestamp=when.astimezone(UTC),
        )
    )


def test_track_and_read_back_through_the_async_api(storage: Any) -> None:
    tracker = CostTracker(storage)
    task = storage.create_task(Task(description="count files"))

    async def go() -> tuple[float, float, float, float]:
        await tracker.track(
            task.id,
            0.0125,
            "anthropic/claude-sonnet-4-5",
            3000,
            output_tokens=500,
            cached_tokens=1000,
        )
        await tracker.track(task.id, 0.0005, "openai/gpt-4o-mini", 1200, output_tokens=200)
        await tracker.track(None, 0.25, "openai/gpt-4o", 10)
        return (
            await tracker.get_cost_by_task(task.id),
            await tracker.get_total_cost("daily"),
            await tracker.get_total_cost("all"),
            await tracker.get_cost_by_task("nope"),
        )

    by_task, today, everything, unknown = asyncio.run(go())
    assert by_task == pytest.approx(0.013)
    assert today == pytest.approx(0.263)
    assert everything == pytest.approx(0.263)
    assert unknown == 0.0
    rows = storage.list_costs(task_id=task.id)
    assert [(r.model, r.input_tokens, r.output_tokens, r.cached_tokens) for r in rows] == [
        ("anthropic/claude-sonnet-4-5", 2500, 500, 1000),
        ("openai/gpt-4o-mini", 1000, 200, 0),
    ]


def test_track_refuses_impossible_numbers(storage: Any) -> None:
    tracker = CostTracker(storage)
    with pytest.raises(ValueError):
        asyncio.run(tracker.track("t", -0.01, "m", 10))
    with pytest.raises(ValueError, match="exceeds"):
        asyncio.run(tracker.track("t", 0.01, "m", 10, output_tokens=11))
    assert storage.list_costs() == []


def test_periods_sum_local_calendar_units(storage: Any, local_tz: str) -> None:
    tracker = CostTracker(storage)
    now = at(2026, 11, 25, 15, 0)  # Wednesday
    add(storage, at(2026, 10, 31, 23, 30), 1.00)  # last month
    add(storage, at(2026, 11, 1, 0, 30), 2.00)  # this month (still 31 Oct in UTC)
    add(storage, at(2026, 11, 22, 23, 59), 4.00)  # Sunday: last ISO week
    add(storage, at(2026, 11, 23, 0, 1), 8.00)  # Monday: this week
    add(storage, at(2026, 11, 24, 23, 30), 16.00)  # yesterday
    add(storage, at(2026, 11, 25, 0, 15), 32.00)  # today (23:15 UTC yesterday)
    assert tracker.total("daily", now) == pytest.approx(32.0)
    assert tracker.total("weekly", now) == pytest.approx(8 + 16 + 32)
    assert tracker.total("monthly", now) == pytest.approx(2 + 4 + 8 + 16 + 32)
    assert tracker.total("all", now) == pytest.approx(63.0)
    with pytest.raises(ValueError):
        tracker.total("fortnightly", now)


def test_summary_groups_by_model_task_and_day(storage: Any, local_tz: str) -> None:
    tracker = CostTracker(storage)
    t1 = storage.create_task(Task(description="refactor the parser"))
    t2 = storage.create_task(Task(description="write release notes"))
    now = at(2026, 11, 25, 15, 0)
    add(storage, at(2026, 11, 23, 9), 0.50, "m/big", t1.id, inp=1000, out=100, cached=400)
    add(storage, at(2026, 11, 24, 9), 0.25, "m/small", t1.id, inp=500, out=50)
    add(storage, at(2026, 11, 25, 0, 30), 0.80, "m/big", t2.id, inp=2000, out=200)
    add(storage, at(2026, 11, 25, 9), 0.01, "m/small", None, inp=10, out=1)
    add(storage, at(2026, 11, 1, 9), 9.00, "m/old", t2.id)  # this month, not this week

    by_model = tracker.summary("weekly", "model", now)
    assert by_model["total_usd"] == pytest.approx(1.56)
    assert by_model["calls"] == 4
    assert (by_model["input_tokens"], by_model["output_tokens"], by_model["cached_tokens"]) == (
        3510,
        351,
        400,
    )
    assert [(r["key"], r["calls"], round(r["cost_usd"], 6)) for r in by_model["rows"]] == [
        ("m/big", 2, 1.30),
        ("m/small", 2, 0.26),
    ]
    assert by_model["label"] == "2026-W48"
    assert by_model["since"] == at(2026, 11, 23).isoformat()

    by_task = tracker.summary("weekly", "task", now)
    assert [(r["key"], r["description"], round(r["cost_usd"], 6)) for r in by_task["rows"]] == [
        (t2.id, "write release notes", 0.80),
        (t1.id, "refactor the parser", 0.75),
        (None, None, 0.01),
    ]

    by_day = tracker.summary("monthly", "day", now)
    assert [(r["key"], round(r["cost_usd"], 6)) for r in by_day["rows"]] == [
        ("2026-11-01", 9.0),
        ("2026-11-23", 0.5),
        ("2026-11-24", 0.25),
        ("2026-11-25", 0.81),
    ]
    with pytest.raises(ValueError):
        tracker.summary("daily", "provider", now)
