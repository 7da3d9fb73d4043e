"""The design brief's async StateManager on a real SQLite database and a real store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from az_git import StateManager
from az_os.drivers import get_storage
from az_os.types import Task
from gitfixtures import requires_stack

pytestmark = requires_stack


def test_save_list_load_snapshots(az_home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "f.txt").write_text("one\n")
    storage = get_storage()
    task = storage.create_task(Task(description="t", workspace=str(ws)))
    sm = StateManager()

    async def scenario() -> None:
        first = await sm.save_snapshot(task.id, {"step": 1}, checkpoint_name="one")
        (ws / "f.txt").write_text("two\n")
        (ws / "g.txt").write_text("g\n")
        second = await sm.save_snapshot(task.id, {"step": 2})
        assert await sm.list_snapshots(task.id) == [second, first]
        assert await sm.load_snapshot(task.id) == {"step": 2}
        assert await sm.load_snapshot(task.id, "one") == {"step": 1}
        assert storage.load_state(task.id) == {"step": 2}  # the task's resumable state
        assert (ws / "f.txt").read_text() == "two\n"  # loading alone changes no file
        assert await sm.load_snapshot(task.id, first, restore=True) == {"step": 1}
        assert (ws / "f.txt").read_text() == "one\n" and not (ws / "g.txt").exists()
        assert await sm.load_snapshot(task.id, "no-such-name") is None

    asyncio.run(scenario())


def test_snapshots_of_a_task_id_that_is_not_stored(az_home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "f.txt").write_text("x\n")
    sm = StateManager(workspace=ws)

    async def scenario() -> None:
        cid = await sm.save_snapshot("outside-az", {"cursor": 42}, "mine")
        assert await sm.list_snapshots("outside-az") == [cid]
        assert await sm.list_snapshots("another") == []
        assert await sm.load_snapshot("outside-az", "mine") == {"cursor": 42}

    asyncio.run(scenario())


def test_steps_beyond_the_task_are_refused(az_home: Path, tmp_path: Path) -> None:
    from az_git.manager import Checkpoints
    from az_os.errors import AzError

    ws = tmp_path / "ws"
    ws.mkdir()
    storage = get_storage()
    task = storage.create_task(Task(description="t", workspace=str(ws)))
    cps = Checkpoints()
    for turn in (1, 2):
        (ws / f"{turn}.txt").write_text(str(turn))
        cps.save(ws, task_id=task.id, turn=turn)
    with pytest.raises(AzError, match="2 changing turn\\(s\\) left to undo; --steps 2"):
        cps.undo(task.id, steps=3)
    with pytest.raises(AzError, match="--steps must be 1 or more"):
        cps.undo(task.id, steps=0)


def test_undo_refuses_to_take_back_a_later_tasks_changes(az_home: Path, tmp_path: Path) -> None:
    from az_git.manager import Checkpoints
    from az_os.errors import AzError

    ws = tmp_path / "ws"
    ws.mkdir()
    storage = get_storage()
    first = storage.create_task(Task(description="first", workspace=str(ws)))
    second = storage.create_task(Task(description="second", workspace=str(ws)))
    cps = Checkpoints()
    cps.save(ws, task_id=first.id, turn=1)
    (ws / "first.txt").write_text("1")
    cps.save(ws, task_id=first.id, turn=1, name="end")
    cps.save(ws, task_id=second.id, turn=1)
    (ws / "second.txt").write_text("2")
    cps.save(ws, task_id=second.id, turn=1, name="end")
    with pytest.raises(AzError, match=f"task {second.id} changed .* undo task {second.id} first"):
        cps.undo(first.id)
    assert (ws / "second.txt").exists() and (ws / "first.txt").exists()
    cps.undo(second.id)
    assert not (ws / "second.txt").exists()
    cps.undo(first.id)  # the later task's changes are undone: now it is the latest again
    assert not (ws / "first.txt").exists()
