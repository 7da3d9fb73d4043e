"""The checkpoint methods of the Storage contract are additive: a backend
written before them still loads and refuses them in one line."""

from __future__ import annotations

from typing import Any

import pytest
from az_os.errors import StorageError
from az_os.storage import Storage
from az_os.types import Checkpoint


def _older_backend() -> Storage:
    abstract = sorted(Storage.__abstractmethods__)

    def stub(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    cls = type("OlderBackend", (Storage,), dict.fromkeys(abstract, stub))
    return cls()  # type: ignore[no-any-return]


def test_a_backend_without_checkpoints_still_loads_and_refuses_them_clearly() -> None:
    for name in (
        "add_checkpoint",
        "list_checkpoints",
        "get_checkpoint",
        "delete_checkpoint",
        "delete_turns_after",
    ):
        assert name not in Storage.__abstractmethods__
    storage = _older_backend()
    cp = Checkpoint(commit="0" * 40, workspace="/w")
    with pytest.raises(StorageError, match="OlderBackend does not keep checkpoints"):
        storage.add_checkpoint(cp)
    with pytest.raises(StorageError, match="does not keep checkpoints"):
        storage.list_checkpoints()
    with pytest.raises(StorageError, match="cannot rewind"):
        storage.delete_turns_after("t", 1)


def test_checkpoint_record_round_trips() -> None:
    cp = Checkpoint(task_id="t1", turn=2, name="auto", commit="a" * 40, workspace="/w")
    assert Checkpoint.from_dict(cp.to_dict()) == cp
