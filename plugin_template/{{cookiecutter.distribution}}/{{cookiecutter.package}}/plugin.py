"""Hook implementations of {{ cookiecutter.distribution }}.

az calls these with keyword arguments; each function may accept any subset
of its hook's arguments (see az's docs/plugin-hooks.md). Keep imports at the
top of this module light: `az --help` imports it.
"""

from __future__ import annotations

from typing import Any

import typer

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


@hookimpl
def az_register_commands(app: typer.Typer) -> None:
    group = typer.Typer(help="{{ cookiecutter.description }}.", no_args_is_help=True)

    @group.command("greet")
    def greet(name: str = typer.Option("world", help="Who to greet.")) -> None:
        """Print a greeting."""
        print(f"Hello, {name}! ({{ cookiecutter.distribution }})")

    app.add_typer(group, name="{{ cookiecutter.plugin_name }}")
