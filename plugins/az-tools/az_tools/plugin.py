"""The az-tools plugin: registers the built-in tools.

``filesystem.list``, ``filesystem.read``, ``filesystem.search``,
``filesystem.write``, ``filesystem.copy`` (category ``filesystem``), ``shell.execute``
(``shell``), ``process.list`` (``system``) and ``git.log`` (``vcs``). Importing this module is
cheap: the tool modules (and psutil, regex) are imported when the tool list
is first asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from az_os import hookimpl


def builtin_tools() -> list[Any]:
    """A fresh instance of every built-in tool, in display order."""
    from az_tools.filesystem import CopyTool, ListTool, ReadTool, WriteTool
    from az_tools.process import ProcessListTool
    from az_tools.search import SearchTool
    from az_tools.shell import ShellTool
    from az_tools.vcs import GitLogTool

    return [
        ListTool(),
        ReadTool(),
        SearchTool(),
        WriteTool(),
        CopyTool(),
        ShellTool(),
        ProcessListTool(),
        GitLogTool(),
    ]


@hookimpl
def az_register_tools(register: Callable[..., None]) -> None:
    """Register the eight built-in tools."""
    for tool in builtin_tools():
        register(tool)


@hookimpl
def az_health_checks(register: Callable[..., None]) -> None:
    """``tools.sandbox``: ok when shell commands run sandboxed (or unsandboxed
    by choice, ``tools.shell.sandbox = "none"``), degraded (with the reason)
    when ``auto`` found no usable bwrap, unhealthy when a required sandbox
    cannot run."""
    register("tools.sandbox", sandbox_health)


def sandbox_health() -> Any:
    """The ``tools.sandbox`` health check (see :func:`az_health_checks`)."""
    import os

    from az_os.config import current_config
    from az_os.types import HealthResult

    from az_tools.base import ToolFailure

    if os.name != "posix":
        return HealthResult(
            name="tools.sandbox", status="degraded", detail="no sandbox: bubblewrap needs Linux"
        )
    from az_tools import sandbox

    try:
        p = sandbox.plan(current_config())
    except ToolFailure as exc:
        return HealthResult(name="tools.sandbox", status="unhealthy", detail=str(exc))
    detail = f"{p.sandbox} ({p.reason}); process limit: {p.process_limit}"
    # off by choice is fine; off because bwrap cannot run here is worth a look
    status = "degraded" if p.reason.startswith("auto:") else "ok"
    return HealthResult(name="tools.sandbox", status=status, detail=detail, data=p.to_dict())
