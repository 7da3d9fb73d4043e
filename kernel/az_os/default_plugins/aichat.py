"""``aichat.complete``: the agent hands a sub-question to another model
(the tool is :class:`az_os.default_plugins.aichat_tool.CompleteTool`).

The tool's module is imported only when tools are asked for, so ``az --help``
does not load the tool contract and the records behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.tools import Tool


@hookimpl
def az_register_tools(register: Callable[[Tool], None]) -> None:
    """Register ``aichat.complete``."""
    from az_os.default_plugins.aichat_tool import CompleteTool

    register(CompleteTool())
