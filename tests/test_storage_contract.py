"""The kernel's storage contract, one suite over every SQL backend.

Each test runs on ``sqlite`` (a real file under the test's az home) and on
``postgres`` (a fresh database on a real PostgreSQL server the session
starts on a loopback port; skipped where PostgreSQL is not installed,
required in CI). A backend that is not installed is skipped.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from az_os.errors import NotFoundError, StorageError
from az_os.storage import TaskRepository
from az_os.types import (
    Checkpoint,
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
BACKENDS = {"sqlite": "az_sqlite", "postgres": "az_postgres"}


@pytest.fixture(params=sorted(BACKENDS))
def backend_env(request: pytest.FixtureRequest, az_home: Path) -> dict[str, str]:
    """The AZ_STORAGE__* variables selecting one backend (set in os.environ too)."""
    name = request.param
    if importlib.util.find_spec(BACKENDS[name]) is None:
        pytest.skip(f"the {name} storage backend is not installed")
    env = {"AZ_STORAGE__BACKEND": name}
    if name == "postgres":
        env["AZ_STORAGE__DSN"] = request.getfixturevalue("pg_dsn")
    mp = request.getfixturevalue("monkeypatch")
    for k, v in env.items():
        mp.setenv(k, v)
    return env


@pytest.fixture
def storage(backend_env: dict[str, str]) -> Iterator[Any]:
    """The configured backend, opened as the kernel opens it."""
    from az_os.drivers import get_storage

    s = get_storage()
    yield s
    s.close()


def _task(i: int, **kw: Any) -> Task:
    return Task(
        id=f"t{i:011d}", description=f"task {i}", created_at=T0 + timedelta(seconds=i), **kw
    )


def test_backend_is_the_configured_one(storage: Any, backend_env: dict[str, str]) -> None:
    backend = getattr(storage, "backend", storage)  # under the kernel's secret-masking wrapper
    assert type(backend).__module__.split(".")[0] == BACKENDS[backend_env["AZ_STORAGE__BACKEND"]]
    assert "password" not in storage.location and "az-test-password" not in storage.location


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
    if hasattr(storage, "schema_info"):  # the SQL backends: no orphan rows left behind
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


# -- several workers, one database ------------------------------------------
def test_claim_is_exclusive_until_its_heartbeat_goes_stale(storage: Any) -> None:
    t = storage.create_task(Task(description="x"))
    assert storage.claim_holder(t.id) is None
    assert storage.claim_task(t.id, "w1") is True
    assert storage.claim_holder(t.id) == "w1"
    assert storage.claim_task(t.id, "w1") is True  # the holder again
    assert storage.claim_task(t.id, "w2") is False  # a redelivered message elsewhere
    assert storage.heartbeat_claim(t.id, "w1") is True
    assert storage.stale_claims(30.0) == []
    time.sleep(0.3)
    assert storage.stale_claims(0.2) == [(t.id, "w1")]
    assert storage.claim_task(t.id, "w2", stale_after_s=0.2) is True  # w1 died
    assert storage.claim_holder(t.id) == "w2"
    assert storage.heartbeat_claim(t.id, "w1") is False
    assert storage.release_claim(t.id, "w2") is True
    assert storage.claim_holder(t.id) is None
    assert storage.release_claim(t.id, "w2") is False
    assert storage.claim_task(t.id, "w3") is True
    with pytest.raises(NotFoundError):
        storage.claim_task("missing", "w1")


def test_finished_task_cannot_be_claimed(storage: Any) -> None:
    t = storage.create_task(Task(description="x", status=TaskStatus.COMPLETED))
    assert storage.claim_task(t.id, "w1") is False


def test_claims_race_from_threads_one_winner(storage: Any) -> None:
    tasks = [storage.create_task(Task(description=str(i))) for i in range(20)]
    wins: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        for t in tasks:
            if storage.claim_task(t.id, name):
                with lock:
                    wins.append((t.id, name))

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(w[0] for w in wins) == sorted(t.id for t in tasks)  # each exactly once


def test_budget_reservations_count_until_released(storage: Any) -> None:
    a = storage.create_task(Task(description="a"))
    b = storage.create_task(Task(description="b"))
    storage.add_cost(CostRecord(task_id=a.id, model="m", cost_usd=0.5, timestamp=T0))
    r = storage.reserve_budget(a.id, 0.3, budget_usd=1.0, since=T0)
    assert r.ok and r.spent_usd == pytest.approx(0.5) and r.reserved_usd == 0.0
    r = storage.reserve_budget(b.id, 0.3, budget_usd=1.0, since=T0)
    assert not r.ok and r.refused == "budget" and r.reserved_usd == pytest.approx(0.3)
    assert storage.reserve_budget(b.id, 0.2, budget_usd=1.0, since=T0).ok
    storage.release_budget(a.id)
    assert storage.reserve_budget(b.id, 0.5, budget_usd=1.0, since=T0).ok  # replaces b's
    # spend before the period does not count, b's 0.5 in flight does
    later = T0 + timedelta(days=1)
    assert storage.reserve_budget(a.id, 0.6, budget_usd=1.0, since=later).ok is False
    assert storage.reserve_budget(a.id, 0.5, budget_usd=1.0, since=later).ok
    storage.release_budget(b.id)
    # the per-task cap counts the task's recorded cost
    r = storage.reserve_budget(a.id, 0.6, task_cap_usd=1.0)
    assert not r.ok and r.refused == "task_cap" and r.task_spent_usd == pytest.approx(0.5)
    # an expired reservation is not counted
    storage.release_budget(a.id)
    storage.reserve_budget(a.id, 0.45, budget_usd=1.0, since=T0)
    time.sleep(0.2)
    assert storage.reserve_budget(b.id, 0.45, budget_usd=1.0, since=T0, ttl_s=0.1).ok


def test_budget_reservations_from_threads_never_overspend(storage: Any) -> None:
    tasks = [storage.create_task(Task(description=str(i))) for i in range(12)]
    granted: list[str] = []
    lock = threading.Lock()

    def worker(t: Task) -> None:
        if storage.reserve_budget(t.id, 0.25, budget_usd=1.0).ok:
            with lock:
                granted.append(t.id)

    threads = [threading.Thread(target=worker, args=(t,)) for t in tasks]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(granted) == 4


def test_watching_search_and_turn_counts(storage: Any) -> None:
    a = storage.create_task(Task(description="Refactor 100% of primes_util.py"))
    b = storage.create_task(Task(description="other", model="openai/gpt-4o"))
    storage.add_turn(_turn(a.id, 1))
    storage.add_turn(_turn(a.id, 2))
    assert [t.id for t in storage.search_tasks("PRIMES_")] == [a.id]
    assert [t.id for t in storage.search_tasks("100%")] == [a.id]
    assert [t.id for t in storage.search_tasks("gpt-4o")] == [b.id]
    assert storage.count_turns([a.id, b.id, "missing"]) == {a.id: 2, b.id: 0, "missing": 0}
    since = storage.get_task(b.id).updated_at
    assert [t.id for t in storage.list_tasks_updated_since(since)] == [b.id]


def _checkpoint(i: int, **kw: Any) -> Checkpoint:
    fields: dict[str, Any] = {
        "id": f"c{i:011d}",
        "commit": f"{i:040x}",
        "workspace": "/w",
        "created_at": T0 + timedelta(seconds=i),
    }
    fields.update(kw)
    return Checkpoint(**fields)


def test_checkpoints_add_list_get_delete(storage: Any) -> None:
    task = storage.create_task(_task(1))
    storage.add_checkpoint(_checkpoint(1, task_id=task.id, turn=1))
    storage.add_checkpoint(_checkpoint(2, task_id=task.id, turn=2))
    storage.add_checkpoint(_checkpoint(3, name="mine", workspace="/other"))
    newest_first = ["c00000000003", "c00000000002", "c00000000001"]
    assert [c.id for c in storage.list_checkpoints()] == newest_first
    assert [c.turn for c in storage.list_checkpoints(task_id=task.id)] == [2, 1]
    assert [c.name for c in storage.list_checkpoints(workspace="/other")] == ["mine"]
    assert len(storage.list_checkpoints(limit=1)) == 1
    assert storage.get_checkpoint("c00000000002") == _checkpoint(2, task_id=task.id, turn=2)
    assert storage.get_checkpoint("c0000000000") is None  # ambiguous prefix
    assert storage.get_checkpoint("c00000000003").name == "mine"
    assert storage.get_checkpoint("nope") is None
    with pytest.raises(StorageError, match="already exists"):
        storage.add_checkpoint(_checkpoint(2))
    with pytest.raises(NotFoundError):
        storage.add_checkpoint(_checkpoint(9, task_id="no-such-task"))
    assert storage.delete_checkpoint("c00000000002") is True
    assert storage.delete_checkpoint("c00000000002") is False
    storage.delete_task(task.id)  # a task's checkpoint records go with it
    assert [c.id for c in storage.list_checkpoints()] == ["c00000000003"]


def test_delete_turns_after_rewinds_the_conversation(storage: Any) -> None:
    task = storage.create_task(_task(1))
    for i in range(1, 5):
        storage.add_turn(
            Turn(task_id=task.id, index=i, messages=[Message(role="assistant", content=str(i))])
        )
    assert storage.delete_turns_after(task.id, 1) == 3
    assert [t.index for t in storage.list_turns(task.id)] == [1]
    assert storage.delete_turns_after(task.id, 1) == 0
    with pytest.raises(NotFoundError):
        storage.delete_turns_after("no-such-task", 0)


def _pages(storage: Any, limit: int, **filters: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        rows, cursor = storage.list_task_page(limit=limit, cursor=cursor, **filters)
        pages.append(rows)
        if cursor is None:
            return pages


def test_task_pages_by_cursor_match_the_list_order(storage: Any) -> None:
    from az_os.storage import TASK_PAGE_FIELDS

    for i in range(23):
        storage.create_task(
            Task(
                id=f"x{i:011d}",
                description=f"task {i}",
                created_at=T0 + timedelta(seconds=i % 17),  # ties: insertion order breaks them
                status=TaskStatus.FAILED if i % 3 == 0 else TaskStatus.COMPLETED,
                priority=TaskPriority.HIGH if i % 2 else TaskPriority.LOW,
                result="a long result the list leaves out",
                cost_usd=0.25,
            )
        )
    expected = [t.id for t in storage.list_tasks(limit=None)]
    pages = _pages(storage, 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [r["id"] for p in pages for r in p] == expected
    row = pages[0][0]
    assert tuple(row) == TASK_PAGE_FIELDS and "result" not in row
    task = storage.get_task(row["id"])
    assert row["status"] == task.status.value and row["priority"] == task.priority.value
    assert row["created_at"] == task.created_at and row["created_at"].tzinfo is not None
    assert row["cost_usd"] == 0.25 and row["started_at"] is None
    # an exact last page says so; filters page the same way
    assert [len(p) for p in _pages(storage, 23)] == [23]
    failed = [t.id for t in storage.list_tasks(status=TaskStatus.FAILED, limit=None)]
    assert [r["id"] for p in _pages(storage, 3, status=TaskStatus.FAILED) for r in p] == failed
    both = storage.list_tasks(status="completed", priority="high", limit=None)
    got = _pages(storage, 2, status=TaskStatus.COMPLETED, priority=TaskPriority.HIGH)
    assert [r["id"] for p in got for r in p] == [t.id for t in both]
    # offset without a cursor, as list_tasks pages
    rows, _ = storage.list_task_page(limit=4, offset=6)
    assert [r["id"] for r in rows] == expected[6:10]
    with pytest.raises(ValueError, match="cursor"):
        storage.list_task_page(cursor="not-a-cursor")
    assert storage.list_task_page(status=TaskStatus.RUNNING) == ([], None)


def test_tasks_with_state_are_stored_together_or_not_at_all(storage: Any) -> None:
    items = [(_task(i), {"server": {}, "n": i}) for i in range(3)]
    storage.create_tasks_with_state(items)
    assert storage.count_tasks() == 3
    assert storage.load_state(_task(2).id) == {"server": {}, "n": 2}
    with pytest.raises(StorageError, match="already exists"):
        storage.create_tasks_with_state([(_task(7), {}), (_task(1), {})])
    assert storage.get_task(_task(7).id) is None  # none of the batch was kept
    assert storage.count_tasks() == 3
    storage.create_tasks_with_state([])


def test_list_turns_after_reads_only_the_new_turns(storage: Any) -> None:
    from az_os.storage import Storage

    task = storage.create_task(_task(1))
    other = storage.create_task(_task(2))
    turns = [_turn(task.id, i) for i in range(1, 6)]
    for turn in reversed(turns):
        storage.add_turn(turn)
    storage.add_turn(_turn(other.id, 4))
    assert storage.list_turns_after(task.id, 0) == turns
    assert storage.list_turns_after(task.id, 3) == turns[3:]
    assert storage.list_turns_after(task.id, 5) == []
    assert storage.list_turns_after("no-such-task", 0) == []
    storage.add_turn(_turn(task.id, 6))
    assert [t.index for t in storage.list_turns_after(task.id, 5)] == [6]
    # the contract's default (for backends without their own query) agrees
    backend = getattr(storage, "backend", storage)
    for index in (0, 2, 6):
        assert Storage.list_turns_after(backend, task.id, index) == storage.list_turns_after(
            task.id, index
        )


def test_mark_interrupted_marks_dead_runs_at_once_and_leaves_live_ones(storage: Any) -> None:
    import os
    import socket
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = socket.gethostname()
    now = datetime.now(UTC)

    def running(i: int, **kw: Any) -> Task:
        return _task(i, status=TaskStatus.RUNNING, updated_at=now, **kw)

    dead = [running(i, pid=gone.pid, host=here) for i in range(700)]
    dead[0] = dead[0].replace(error="kept: the first error")
    live = [running(1000 + i, pid=os.getpid(), host=here) for i in range(5)]
    elsewhere = [running(2000 + i, pid=gone.pid, host=here + "-other") for i in range(5)]
    done = [_task(3000, status=TaskStatus.COMPLETED, pid=gone.pid, host=here)]
    backend = getattr(storage, "backend", storage)
    backend.create_tasks(dead + live + elsewhere + done)

    statements: list[str] = []
    execute_sql = backend.db.execute_sql

    def counted(sql: str, *args: Any, **kw: Any) -> Any:
        statements.append(sql.lstrip().split(None, 1)[0].upper())
        return execute_sql(sql, *args, **kw)

    backend.db.execute_sql = counted
    try:
        marked = storage.mark_interrupted()
    finally:
        del backend.db.execute_sql
    assert marked == [t.id for t in dead]
    # set-based: a few statements per several hundred tasks, not one per task
    assert statements.count("UPDATE") == 3, statements
    assert len(statements) < 12, statements
    for t in dead:
        got = storage.get_task(t.id)
        assert got.status == TaskStatus.INTERRUPTED
        assert got.updated_at > now
    assert storage.get_task(dead[0].id).error == "kept: the first error"
    why = f"interrupted: process {gone.pid} on {here} ended while the task was running"
    assert storage.get_task(dead[1].id).error == why
    logs = storage.list_logs(task_id=dead[1].id)
    assert [(r.level, r.message) for r in logs] == [("warning", why)]
    assert len(storage.list_logs(level="warning")) == len(dead)
    for t in live + elsewhere:
        assert storage.get_task(t.id).status == TaskStatus.RUNNING
    assert storage.get_task(done[0].id).status == TaskStatus.COMPLETED
    assert storage.mark_interrupted() == []  # nothing left to mark
