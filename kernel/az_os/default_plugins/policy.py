"""The approval policy, applied to every tool from every plugin.

Modes (``Task.approval``, set by ``az task run --approve`` or
``agent.approve`` in config):

* ``auto`` - every call runs, except deny-listed shell commands;
* ``read-only`` - only tools whose spec says ``read_only`` run;
* ``ask`` - read-only tools run; any other call is shown to the user, who
  says yes or no. Without a terminal (no prompter installed) it is refused
  with a message saying how to allow it.

Deny-list patterns (``tools.deny`` in config, regular expressions) are
matched against every string argument of a non-read-only call and refuse it
in every mode.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from az_os import hookimpl
from az_os.errors import ToolRefusedError

if TYPE_CHECKING:  # pragma: no cover
    from az_os.tools import Tool
    from az_os.types import Task, ToolCall

#: Asks the user about one call: ``prompter(task, description) -> bool``.
Prompter = Callable[["Task", str], bool]

_prompter: Prompter | None = None

#: The tool call being asked about while a prompter runs (``None`` otherwise),
#: for prompters that show its arguments in full (the dashboard's modal).
asking: ContextVar[ToolCall | None] = ContextVar("asking", default=None)
_prompt_lock = threading.Lock()
_deny_cache: tuple[tuple[str, ...], list[re.Pattern[str]]] | None = None


def set_prompter(prompter: Prompter | None) -> None:
    """Install the function that asks the user (the CLI does, on a terminal)."""
    global _prompter
    _prompter = prompter


def _deny_patterns() -> list[re.Pattern[str]]:
    """The compiled ``tools.deny`` patterns of the config in force
    (:func:`~az_os.config.current_config`: read again only when it changed)."""
    global _deny_cache
    from az_os.config import current_config

    try:
        raw = tuple(current_config().tools.deny)
    except Exception:  # noqa: BLE001 - a broken config must not disable the deny list
        from az_os.config import DEFAULT_DENY

        raw = tuple(DEFAULT_DENY)
    if _deny_cache is None or _deny_cache[0] != raw:
        compiled = []
        for pat in raw:
            try:
                compiled.append(re.compile(pat, re.IGNORECASE))
            except re.error:
                compiled.append(re.compile(re.escape(pat), re.IGNORECASE))
        _deny_cache = (raw, compiled)
    return _deny_cache[1]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@hookimpl(tryfirst=True)
def az_before_tool_call(task: Task, call: ToolCall, tool: Tool) -> None:
    """Refuse the call (ToolRefusedError) unless the task's approval mode allows it."""
    if tool.spec.read_only:
        return
    patterns = _deny_patterns()
    for text in _strings(call.arguments):
        for pat in patterns:
            if pat.search(text):
                raise ToolRefusedError(
                    f"refused: '{text[:80]}' matches the deny-list pattern '{pat.pattern}' "
                    "(tools.deny in config)"
                )
    mode = task.approval
    if mode == "auto":
        return
    if mode == "read-only":
        raise ToolRefusedError(
            f"refused: {tool.spec.name} changes things and the approval mode is read-only "
            "(run with --approve ask or --approve auto to allow)"
        )
    prompter = _prompter
    if prompter is None:
        raise ToolRefusedError(
            f"refused: {tool.spec.name} needs approval and there is no terminal to ask "
            "(run with --approve auto to allow writes and shell commands)"
        )
    with _prompt_lock:
        token = asking.set(call)
        try:
            approved = prompter(task, tool.describe_call(call.arguments))
        finally:
            asking.reset(token)
    if not approved:
        raise ToolRefusedError(f"refused by the user: {tool.spec.name}")
