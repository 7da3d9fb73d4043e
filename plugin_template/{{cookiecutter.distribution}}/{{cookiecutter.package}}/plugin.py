"""Hook implementations of {{ cookiecutter.distribution }}.

az calls these with keyword arguments; each function may accept any subset
of its hook's arguments (see az's docs/plugin-hooks.md). Keep imports at the
top of this module light: every command that loads plugins imports it.

The plugin's command, ``az {{ cookiecutter.plugin_name }}``, is declared in
``commandlist.py`` and defined in ``cli.py``, so ``az --help`` lists it
without importing this module.
"""

from __future__ import annotations

from typing import Any

from az_os import hookimpl
from az_os.tools import Tool, ToolContext
from az_os.types import ToolResult, ToolSpec


class EchoTool(Tool):
    """Returns its input: the smallest useful tool, to copy from."""

    spec = ToolSpec(
        name="{{ cookiecutter.plugin_name }}.echo",
        description="Return the given text unchanged.",
        input_schema={
            "type": "object",
            "properties": {"text": {"type": "string", "description": "Text to return"}},
            "required": ["text"],
            "additionalProperties": False,
        },
        category="example",
        read_only=True,
    )

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult(success=True, result={"text": arguments["text"]})


@hookimpl
def az_register_tools(register):  # type: ignore[no-untyped-def]
    register(EchoTool())

