"""az-git's hook implementations.

* ``az_before_tool_call`` (``trylast``: after the approval policy and any
  plugin that may refuse) - before the first writing tool call
  (``tool.spec.read_only`` false) of a turn, checkpoint the task's workspace
  as ``auto`` for that turn;
* ``az_task_event`` - follow the task's turn number; when a task that wrote
  ends (completed, failed, cancelled, interrupted), one more checkpoint
  named ``end``;
* ``az_configure`` - read ``[git]``.

``az state`` and ``az undo`` are declared in :mod:`az_git.commandlist` (``az.commands``).

A checkpoint that fails is logged as a warning on the task (``az log``) and
the tool call goes ahead, unless ``git.required`` is true: then the call is
refused with the reason.

This module imports only the kernel; git and GitPython are imported when a
checkpoint is taken.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.tools import Tool
    from az_os.types import Task, TaskEvent, ToolCall

    from az_git.manager import Checkpoints

log = logging.getLogger("az.git")
_FINISHED = frozenset({"completed", "failed", "cancelled", "interrupted"})

_lock = threading.Lock()
_config: AzConfig | None = None
_manager: Checkpoints | None = None
#: task id → the turn now running (from 1)
_turn: dict[str, int] = {}
#: task id → the turn already checkpointed in this process
_saved: dict[str, int] = {}


def _checkpoints() -> Checkpoints:
    global _manager
    with _lock:
        if _manager is None:
            from az_git.manager import Checkpoints

            _manager = Checkpoints(_config)
        return _manager


def _warn(task: Task, message: str) -> None:
    log.warning("%s", message)
    try:
        from az_os.types import LogRecord

        _checkpoints().storage.add_log(LogRecord(task_id=task.id, level="warning", message=message))
    except Exception:  # noqa: BLE001 - the warning is already logged
        pass


@hookimpl
def az_configure(config: AzConfig) -> None:
    """Keep the configuration for the checkpoints taken later."""
    global _config, _manager
    with _lock:
        _config = config
        _manager = None


def _enabled() -> bool:
    try:
        return _checkpoints().settings.auto
    except Exception:  # noqa: BLE001 - a bad [git] section: no automatic checkpoints
        return False


@hookimpl(trylast=True)
def az_before_tool_call(task: Task, call: ToolCall, tool: Tool) -> None:
    """Checkpoint before the first writing tool call of each turn."""
    if tool.spec.read_only or not task.workspace:
        return
    turn = _turn.get(task.id)
    if turn is None:  # the engine's events were not seen: count the stored turns
        try:
            turn = len(_checkpoints().storage.list_turns(task.id)) + 1
        except Exception:  # noqa: BLE001
            turn = 1
        _turn[task.id] = turn
    if _saved.get(task.id) == turn or not _enabled():
        return
    _saved[task.id] = turn
    try:
        _checkpoints().save(task.workspace, task_id=task.id, turn=turn, name="auto")
    except Exception as exc:  # noqa: BLE001 - reported, then the policy decides
        message = f"checkpoint before turn {turn} failed: {exc}"
        required = False
        try:
            required = _checkpoints().settings.required
        except Exception:  # noqa: BLE001
            pass
        if required:
            from az_os.errors import ToolRefusedError

            raise ToolRefusedError(f"refused: {message} (git.required is true)") from None
        _warn(task, message)


@hookimpl
def az_task_event(task: Task, event: TaskEvent) -> None:
    """Follow turns; checkpoint a task that wrote when it ends."""
    kind = event.type
    if kind in ("started", "resumed"):
        _turn[task.id] = int(event.data.get("turns_done", 0)) + 1
        _saved.pop(task.id, None)
    elif kind == "turn":
        _turn[task.id] = int(event.data.get("turn", 0)) + 1
    elif kind in _FINISHED:
        wrote = task.id in _saved
        _turn.pop(task.id, None)
        _saved.pop(task.id, None)
        if not wrote or not task.workspace or not _enabled():
            return
        try:
            cps = _checkpoints()
            turns = len(cps.storage.list_turns(task.id))
            cps.save(task.workspace, task_id=task.id, turn=turns, name="end")
        except Exception as exc:  # noqa: BLE001
            _warn(task, f"checkpoint at the end of the task failed: {exc}")


def _reset() -> None:
    """Forget per-process state (tests)."""
    global _config, _manager
    with _lock:
        _config = None
        _manager = None
        _turn.clear()
        _saved.clear()
