"""Run 'az mcp serve' with two demo tools registered, for the server tests.

demo.echo is read-only; demo.write writes a file in the workspace (not
read-only, so the approval policy decides). Arguments are passed to
'az mcp serve' unchanged.
"""

import sys
from pathlib import Path
from typing import Any

from az_os import hookimpl
from az_os.plugins import get_host
from az_os.tools import Tool, ToolContext
from az_os.types import ToolResult, ToolSpec


class Echo(Tool):
    spec = ToolSpec(
        name="demo.echo",
        description="Return the text unchanged.",
        input_schema={
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
        read_only=True,
    )

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult(success=True, result=arguments["text"])


class Write(Tool):
    spec = ToolSpec(
        name="demo.write",
        description="Write text to a file in the workspace.",
        input_schema={
            "type": "object",
            "properties": {"path": {"type": "string"}, "text": {"type": "string"}},
            "required": ["path", "text"],
        },
        read_only=False,
    )

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        target = Path(ctx.workspace) / arguments["path"]
        target.write_text(arguments["text"])
        return ToolResult(
            success=True, result={"written": str(target), "bytes": len(arguments["text"])}
        )


class DemoPlugin:
    @hookimpl
    def az_register_tools(self, register):
        register(Echo())
        register(Write())


if __name__ == "__main__":
    get_host().register(DemoPlugin(), name="demo")
    from az_os.cli import main

    main(["mcp", "serve", *sys.argv[1:]])
