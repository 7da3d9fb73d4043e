"""The ``aichat.complete`` tool (registered by :mod:`az_os.default_plugins.aichat`).

One model call without tools through :func:`az_os.completion.complete`:
routed (or the model named), checked against the task's budget and
recorded like any engine call, under the calling task's id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from az_os.tools import Tool

if TYPE_CHECKING:  # pragma: no cover
    from az_os.tools import ToolContext
    from az_os.types import ToolResult

#: Most completion tokens one sub-question may ask for.
MAX_TOKENS_CAP = 4096


class CompleteTool(Tool):
    """``aichat.complete(prompt, model?, temperature?, max_tokens?)`` ->
    ``{"answer", "model", "prompt_tokens", "completion_tokens" (tokens),
    "cost_usd" (USD)}``. Errors (unknown model, budget, model failure) are
    the tool result's error, one line."""

    def __init__(self) -> None:
        from az_os.types import ToolSpec

        self.spec = ToolSpec(
            name="aichat.complete",
            description=(
                "Ask another model one question and get its answer as text. "
                "The call is routed to a suitable model (or the one named), "
                "costed and counted against the task's budget."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "The whole question."},
                    "model": {
                        "type": "string",
                        "description": "Model id or alias; default: routed.",
                    },
                    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                    "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS_CAP},
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
            category="ai",
            read_only=True,
        )

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        from az_os.completion import complete
        from az_os.errors import AzError
        from az_os.types import Task, ToolResult

        task = ctx.task or Task(
            description=str(arguments.get("prompt", ""))[:200],
            workspace=str(ctx.workspace),
        )
        temperature = arguments.get("temperature")
        max_tokens = arguments.get("max_tokens")
        try:
            model, response = complete(
                str(arguments["prompt"]),
                task=task,
                model=arguments.get("model") or None,
                temperature=None if temperature is None else float(temperature),
                max_tokens=None if max_tokens is None else min(int(max_tokens), MAX_TOKENS_CAP),
                config=ctx.config,
            )
        except AzError as exc:
            return ToolResult(success=False, error=str(exc))
        usage = response.usage
        return ToolResult(
            success=True,
            result={
                "answer": response.message.content or "",
                "model": model.info.id,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": usage.cost_usd,
            },
        )
