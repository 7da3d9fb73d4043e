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

import os
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from az_os import hookimpl
from az_os.errors import ToolRefusedError

if TYPE_CHECKING:  # pragma: no cover
    from az_os.tools import Tool
    from az_os.types import Task, ToolCall

#: Asks the user about one call: ``prompter(task, description) -> bool``.
Prompter = Callable[["Task", str], bool]

_prompter: Prompter | None = None
_prompt_lock = threading.Lock()
#: (config file stamp and AZ_* overrides, compiled tools.deny patterns)
_deny_cache: tuple[tuple[Any, ...], list[re.Pattern[str]]] | None = None


def set_prompter(prompter: Prompter | None) -> None:
    """Install the function that asks the user (the CLI does, on a terminal)."""
    global _prompter
    _prompter = prompter


def _config_stamp() -> tuple[Any, ...]:
    """What ``tools.deny`` depends on: the config file's path, mtime and size,
    and the ``AZ_SECTION__KEY`` overrides in the environment."""
    from az_os.config import ENV_PREFIX, config_path

    path = config_path()
    try:
        st = path.stat()
        file: tuple[Any, ...] = (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        file = (str(path), None, None)
    env = tuple(sorted(kv for kv in os.environ.items() if kv[0].startswith(ENV_PREFIX)))
    return file, env


def _deny_patterns() -> list[re.Pattern[str]]:
    """The compiled ``tools.deny`` patterns. The config is read again only
    when the file or the environment changed since the last call."""
    global _deny_cache
    stamp = _config_stamp()
    if _deny_cache is not None and _deny_cache[0] == stamp:
        return _deny_cache[1]
    from az_os.config import load_config

    try:
        raw = tuple(load_config().tools.deny)
    except Exception:  # noqa: BLE001 - a broken config must not disable the deny list
        from az_os.config import DEFAULT_DENY

        raw = tuple(DEFAULT_DENY)
    compiled = []
    for pat in raw:
        try:
            compiled.append(re.compile(pat, re.IGNORECASE))
        except re.error:
            compiled.append(re.compile(re.escape(pat), re.IGNORECASE))
    _deny_cache = (stamp, compiled)
    return compiled


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
        approved = prompter(task, tool.describe_call(call.arguments))
    if not approved:
        raise ToolRefusedError(f"refused by the user: {tool.spec.name}")
