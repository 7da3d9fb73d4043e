"""Checkpoint records and rewinding a conversation, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from az_os.errors import NotFoundError, StorageError
from az_os.types import Checkpoint, Message, Task, Turn

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _cp(i: int, **kw: Any) -> Checkpoint:
    fields: dict[str, Any] = {
        "id": f"c{i:011d}",
        "commit": f"{i:040x}",
        "workspace": "/w",
        "created_at": T0 + timedelta(seconds=i),
    }
    fields.update(kw)
    return Checkpoint(**fields)


def test_checkpoints_add_list_get_delete(storage: Any) -> None:
    task = storage.create_task(Task(description="t"))
    storage.add_checkpoint(_cp(1, task_id=task.id, turn=1))
    storage.add_checkpoint(_cp(2, task_id=task.id, turn=2))
    storage.add_checkpoint(_cp(3, name="mine", workspace="/other"))
    assert [c.id for c in storage.list_checkpoints()] == [
        "c00000000003",
        "c00000000002",
        "c00000000001",
    ]
    assert [c.turn for c in storage.list_checkpoints(task_id=task.id)] == [2, 1]
    assert [c.name for c in storage.list_checkpoints(workspace="/other")] == ["mine"]
    assert len(storage.list_checkpoints(limit=1)) == 1
    got = storage.get_checkpoint("c00000000002")
    assert got == _cp(2, task_id=task.id, turn=2)
    assert storage.get_checkpoint("c0000000000") is None  # ambiguous prefix
    assert storage.get_checkpoint("c00000000003").name == "mine"  # type: ignore[union-attr]
    assert storage.get_checkpoint("nope") is None
    with pytest.raises(StorageError, match="already exists"):
        storage.add_checkpoint(_cp(2))
    with pytest.raises(NotFoundError):
        storage.add_checkpoint(_cp(9, task_id="no-such-task"))
    assert storage.delete_checkpoint("c00000000002") is True
    assert storage.delete_checkpoint("c00000000002") is False
    # deleting the task deletes its checkpoint records
    storage.delete_task(task.id)
    assert [c.id for c in storage.list_checkpoints()] == ["c00000000003"]


def test_delete_turns_after_rewinds_the_conversation(storage: Any) -> None:
    task = storage.create_task(Task(description="t"))
    for i in range(1, 5):
        storage.add_turn(
            Turn(task_id=task.id, index=i, messages=[Message(role="assistant", content=str(i))])
        )
    assert storage.delete_turns_after(task.id, 1) == 3
    assert [t.index for t in storage.list_turns(task.id)] == [1]
    assert storage.delete_turns_after(task.id, 1) == 0
    with pytest.raises(NotFoundError):
        storage.delete_turns_after("no-such-task", 0)
