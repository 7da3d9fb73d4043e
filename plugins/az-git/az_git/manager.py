"""Checkpoints as az sees them: git snapshots (:mod:`az_git.store`) plus their
records in the storage backend (``Storage.add_checkpoint`` ...).

:class:`Checkpoints` is what the hooks and the commands use (synchronous);
:class:`StateManager` is the design brief's async API over it.

Names: a checkpoint is found by its id, a unique id prefix, or its name (the
newest checkpoint of that name in the workspace). Automatic checkpoints are
named ``auto`` (taken before the first writing tool call of a turn) and
``end`` (when a task that wrote ends); a restore first records ``pre-restore``
(``pre-undo`` for ``az undo``), so it can itself be undone.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from az_os.errors import AzError, NotFoundError
from az_os.types import Checkpoint, TaskStatus, new_id
from az_os.util import process_alive

from az_git.settings import GitSettings, load_settings
from az_git.store import Snapshot, StoreError, WorkspaceStore

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.storage import Storage
    from az_os.types import Task

AUTO = "auto"
END = "end"
RESERVED = {AUTO, END, "pre-restore", "pre-undo"}


@dataclass
class RestoreResult:
    """What a restore did: the checkpoint it went back to, the one it took
    first (``pre``), and ``changes``: ``(status, path)`` in the workspace
    (``A`` recreated, ``M`` rewritten, ``D`` removed, ``T`` type changed)."""

    target: Checkpoint
    pre: Checkpoint
    changes: list[tuple[str, str]]
    turns_dropped: int = 0
    task: Task | None = None
    left_out: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "restored": self.target.to_dict(),
            "pre_checkpoint": self.pre.to_dict(),
            "changes": [{"status": s, "path": p} for s, p in self.changes],
            "turns_dropped": self.turns_dropped,
            "task": self.task.to_dict() if self.task else None,
        }


class Checkpoints:
    """Checkpoints of any workspace, recorded in ``storage``.

    ``Checkpoints(config, storage)``; both default to the process-wide ones.
    """

    def __init__(self, config: AzConfig | None = None, storage: Storage | None = None) -> None:
        if config is None:
            from az_os.config import load_config

            config = load_config()
        self.config = config
        self.settings: GitSettings = load_settings(config)
        self._storage = storage
        self._stores: dict[Path, WorkspaceStore] = {}

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            from az_os.drivers import get_storage

            self._storage = get_storage(self.config)
        return self._storage

    def store(self, workspace: Path | str) -> WorkspaceStore:
        """The store of ``workspace`` (kept open in this object)."""
        path = Path(workspace).expanduser()
        key = path.resolve() if path.exists() else path
        if key not in self._stores:
            self._stores[key] = WorkspaceStore(
                key, self.config.home, max_file_bytes=self.settings.max_file_bytes
            )
        return self._stores[key]

    # -- saving ----------------------------------------------------------
    def save(
        self,
        workspace: Path | str,
        *,
        task_id: str | None = None,
        turn: int = 0,
        name: str = AUTO,
        state: dict[str, Any] | None = None,
    ) -> tuple[Checkpoint, Snapshot]:
        """Snapshot ``workspace`` and record it; returns the record and the
        snapshot (which lists the files left out over the size cap). For a
        task, its ``task_state.checkpoint_id`` then names this checkpoint
        (the saved state itself is kept)."""
        store = self.store(workspace)
        cp_id = new_id()
        meta: dict[str, Any] = {"task_id": task_id, "turn": turn, "name": name}
        if state is not None:
            meta["state"] = state
        snap = store.snapshot(cp_id, meta)
        cp = Checkpoint(
            id=cp_id,
            task_id=task_id,
            turn=turn,
            name=name,
            commit=snap.commit,
            workspace=str(store.workspace),
        )
        self.storage.add_checkpoint(cp)
        if task_id is not None and state is None:
            self.storage.save_state(
                task_id, self.storage.load_state(task_id) or {}, checkpoint_id=cp.id
            )
        return cp, snap

    # -- finding ---------------------------------------------------------
    def resolve(
        self,
        name_or_id: str,
        workspace: Path | str | None = None,
        task_id: str | None = None,
    ) -> Checkpoint:
        """The checkpoint named ``name_or_id`` (id, unique id prefix, or the
        newest with that name in ``workspace`` / of ``task_id``).
        NotFoundError (one line) when there is none."""
        key = (name_or_id or "").strip()
        if not key:
            raise NotFoundError("give a checkpoint name or id (see 'az state list')")
        cp = self.storage.get_checkpoint(key)
        if cp is not None:
            return cp
        ws = str(Path(workspace).expanduser().resolve()) if workspace is not None else None
        for c in self.storage.list_checkpoints(task_id=task_id, workspace=ws):
            if c.name == key:
                return c
        where = f"task {task_id}" if task_id else f"workspace {ws}" if ws else "any workspace"
        raise NotFoundError(
            f"no checkpoint named or with id '{key}' in {where} (see 'az state list')"
        )

    def list(
        self,
        workspace: Path | str | None = None,
        task_id: str | None = None,
        limit: int | None = None,
    ) -> list[Checkpoint]:
        """Checkpoints, newest first (of one workspace and/or task)."""
        ws = str(Path(workspace).expanduser().resolve()) if workspace is not None else None
        return self.storage.list_checkpoints(task_id=task_id, workspace=ws, limit=limit)

    def _store_of(self, cp: Checkpoint) -> WorkspaceStore:
        if not Path(cp.workspace).is_dir():
            raise StoreError(
                f"workspace {cp.workspace} of checkpoint {cp.id} no longer exists "
                "(moved or deleted?); checkpoints belong to the directory they were taken in"
            )
        return self.store(cp.workspace)

    def diff(self, cp: Checkpoint, stat: bool = False) -> str:
        """The diff from ``cp`` to its workspace now (``stat``: a summary)."""
        return self._store_of(cp).diff(cp.commit, stat=stat)

    def changes(self, cp: Checkpoint) -> list[tuple[str, str]]:
        """``(status, path)`` of what differs between ``cp`` and its workspace now."""
        return self._store_of(cp).changes(cp.commit)

    def metadata(self, cp: Checkpoint) -> dict[str, Any]:
        """What the checkpoint's commit carries (``state``, ``left_out``...)."""
        return self._store_of(cp).metadata(cp.commit)

    # -- restoring -------------------------------------------------------
    def restore(
        self,
        cp: Checkpoint,
        *,
        force: bool = False,
        task_id: str | None = None,
        turn: int = 0,
        pre_name: str = "pre-restore",
    ) -> RestoreResult:
        """Put ``cp``'s workspace back to it (see
        :meth:`az_git.store.WorkspaceStore.restore`); the state before is
        recorded as a checkpoint named ``pre_name``. Raises
        ExternalChangesError when files changed outside az (unless ``force``)."""
        store = self._store_of(cp)
        pre_id = new_id()
        meta = {"task_id": task_id, "turn": turn, "name": pre_name, "restoring": cp.id}
        snap, changes = store.restore(
            cp.commit, pre_id, meta, force=force, diff_lines=self.settings.diff_lines
        )
        pre = Checkpoint(
            id=pre_id,
            task_id=task_id,
            turn=turn,
            name=pre_name,
            commit=snap.commit,
            workspace=str(store.workspace),
        )
        self.storage.add_checkpoint(pre)
        return RestoreResult(target=cp, pre=pre, changes=changes, left_out=snap.left_out)

    def delete(self, cp: Checkpoint) -> None:
        """Delete the record and the store's reference to its snapshot."""
        self.storage.delete_checkpoint(cp.id)
        if Path(cp.workspace).is_dir():
            self.store(cp.workspace).delete(cp.id)

    # -- undo ------------------------------------------------------------
    def _check_latest(self, task_id: str, target: Checkpoint) -> None:
        """Refuse to undo past another task's changes to the same workspace."""
        later = _later_task(self.storage, task_id, target)
        if later is not None:
            raise AzError(
                f"task {later.task_id} changed {target.workspace} after this point of task "
                f"{task_id}; undoing would take its changes back too: undo task "
                f"{later.task_id} first, or --force"
            )

    def latest_task(self, workspace: Path | str) -> str:
        """The id of the newest task with automatic checkpoints in ``workspace``."""
        for c in self.list(workspace=workspace):
            if c.task_id and c.name == AUTO:
                return c.task_id
        ws = Path(workspace).expanduser().resolve()
        raise NotFoundError(
            f"no task has changed files in {ws}: nothing to undo (see 'az state list --all')"
        )

    def undo(
        self,
        task_id: str | None = None,
        steps: int = 1,
        workspace: Path | str | None = None,
        force: bool = False,
    ) -> RestoreResult:
        """Take a task's workspace back to before its last ``steps`` changing
        turns and rewind its conversation to the turn before, so
        ``az task resume`` continues from there.

        The task defaults to the newest one that changed ``workspace`` (the
        current directory). Its checkpoint records after that point are
        dropped; the task becomes ``cancelled`` (resumable). Raises
        NotFoundError for an unknown task, AzError for a running task or
        more steps than it has or when another task changed the workspace
        since (unless ``force``), ExternalChangesError as :meth:`restore`."""
        if steps < 1:
            raise AzError(f"--steps must be 1 or more, got {steps}")
        storage = self.storage
        if task_id is None:
            task_id = self.latest_task(workspace or os.getcwd())
        task = storage.get_task(task_id)
        if task is None:
            raise NotFoundError(f"no task '{task_id}' (see 'az task list')")
        if (
            task.status == TaskStatus.RUNNING
            and task.pid
            and task.host in (None, socket.gethostname())
            and process_alive(task.pid)
        ):
            raise AzError(
                f"task {task.id} is still running (pid {task.pid}); "
                f"'az task cancel {task.id}' stops it first"
            )
        autos = sorted(
            (c for c in storage.list_checkpoints(task_id=task.id) if c.name == AUTO),
            key=lambda c: (c.turn, c.created_at),
        )
        if not autos:
            raise AzError(
                f"task {task.id} has no changing turns left to undo "
                "(it changed no files, or they are undone already)"
            )
        if steps > len(autos):
            raise AzError(
                f"task {task.id} has {len(autos)} changing turn(s) left to undo; "
                f"--steps {len(autos)} takes it back to before its first"
            )
        target = autos[-steps]
        if not force:
            self._check_latest(task.id, target)
        turns = storage.list_turns(task.id)
        result = self.restore(
            target, force=force, task_id=task.id, turn=len(turns), pre_name="pre-undo"
        )
        keep = target.turn - 1
        result.turns_dropped = storage.delete_turns_after(task.id, keep)
        for c in storage.list_checkpoints(task_id=task.id):
            if c.name in (AUTO, END) and c.turn > keep:
                self.delete(c)
        task = storage.get_task(task.id) or task
        task.status = TaskStatus.CANCELLED
        task.error = (
            f"undone to after turn {keep} by 'az undo'; 'az task resume {task.id}' continues"
        )
        task.result = None
        task.completed_at = None
        result.task = storage.update_task(task)
        return result


def _later_task(storage: Storage, task_id: str, target: Checkpoint) -> Checkpoint | None:
    """A checkpoint another task took in the same workspace after ``target``
    while changing files (``auto``/``end``), newest first; None if none."""
    for c in storage.list_checkpoints(workspace=target.workspace):
        if c.created_at <= target.created_at:
            return None
        if c.task_id and c.task_id != task_id and c.name in (AUTO, END):
            return c
    return None


class StateManager:
    """The design brief's state API: snapshots of a task's workspace and state.

    ``StateManager(workspace=None, config=None, storage=None)``. A task's
    snapshots are taken of the task's own workspace (from storage), else of
    ``workspace`` (default: the current directory). Every method runs in a
    worker thread (git and the database), so the event loop never blocks.
    """

    def __init__(
        self,
        workspace: Path | str | None = None,
        config: AzConfig | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.checkpoints = Checkpoints(config, storage)
        self.workspace = Path(workspace) if workspace is not None else None

    def _workspace_of(self, task_id: str) -> Path:
        task = self.checkpoints.storage.get_task(task_id)
        if task is not None and task.workspace:
            return Path(task.workspace)
        return self.workspace or Path.cwd()

    async def save_snapshot(
        self, task_id: str, state: dict[str, Any], checkpoint_name: str | None = None
    ) -> str:
        """Checkpoint the task's workspace with ``state`` (a JSON-ready dict,
        kept with the snapshot and as the task's resumable state when the
        task is stored); returns the checkpoint id. ``checkpoint_name``
        defaults to ``snapshot``."""

        def run() -> str:
            storage = self.checkpoints.storage
            known = storage.get_task(task_id) is not None
            cp, _ = self.checkpoints.save(
                self._workspace_of(task_id),
                task_id=task_id if known else None,
                name=checkpoint_name or "snapshot",
                state={"task_id": task_id, "data": state},
            )
            if known:
                storage.save_state(task_id, state, checkpoint_id=cp.id)
            return cp.id

        return await asyncio.to_thread(run)

    def _find(self, task_id: str, checkpoint_name: str | None) -> Checkpoint | None:
        cps = [
            c
            for c in self._snapshots(task_id)
            if checkpoint_name is None or checkpoint_name in (c.name, c.id)
        ]
        return cps[0] if cps else None

    def _snapshots(self, task_id: str) -> list[Checkpoint]:
        storage = self.checkpoints.storage
        if storage.get_task(task_id) is not None:
            return storage.list_checkpoints(task_id=task_id)
        ws = str(self._workspace_of(task_id).resolve())
        out = []
        for c in storage.list_checkpoints(workspace=ws):
            if c.task_id is None and c.name not in RESERVED:
                meta = self.checkpoints.metadata(c)
                if (meta.get("state") or {}).get("task_id") == task_id:
                    out.append(c)
        return out

    async def load_snapshot(
        self, task_id: str, checkpoint_name: str | None = None, restore: bool = False
    ) -> dict[str, Any] | None:
        """The state saved with the task's newest snapshot (or the one named
        or with id ``checkpoint_name``); None when there is none. With
        ``restore`` the workspace files are also put back to it (a restore,
        checkpointed first; ExternalChangesError if files changed outside az)."""

        def run() -> dict[str, Any] | None:
            cp = self._find(task_id, checkpoint_name)
            if cp is None:
                return None
            if restore:
                self.checkpoints.restore(cp, task_id=cp.task_id)
            state = self.checkpoints.metadata(cp).get("state")
            if isinstance(state, dict) and "data" in state:
                data = state["data"]
                return data if isinstance(data, dict) else None
            return None

        return await asyncio.to_thread(run)

    async def list_snapshots(self, task_id: str) -> list[str]:
        """Ids of the task's checkpoints, newest first (each is a valid
        ``checkpoint_name`` for :meth:`load_snapshot`)."""
        return await asyncio.to_thread(lambda: [c.id for c in self._snapshots(task_id)])
