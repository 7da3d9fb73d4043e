"""The az-tools plugin: registers the built-in tools.

``filesystem.list``, ``filesystem.read``, ``filesystem.write`` (category
``filesystem``), ``shell.execute`` (``shell``) and ``process.list``
(``system``). Importing this module is cheap: the tool modules (and psutil)
are imported when the tool list is first asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from az_os import hookimpl


def builtin_tools() -> list[Any]:
    """A fresh instance of every built-in tool, in display order."""
    from az_tools.filesystem import ListTool, ReadTool, WriteTool
    from az_tools.process import ProcessListTool
    from az_tools.shell import ShellTool

    return [ListTool(), ReadTool(), WriteTool(), ShellTool(), ProcessListTool()]


@hookimpl
def az_register_tools(register: Callable[..., None]) -> None:
    """Register the five built-in tools."""
    for tool in builtin_tools():
        register(tool)
