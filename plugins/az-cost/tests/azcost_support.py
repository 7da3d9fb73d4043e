"""Test support for az-cost: a scripted model with real list prices and a
read-only tool, registered through the real plugin host.

The model is our own :class:`az_os.models.Model` contract (not a mock of a
cloud API): it answers from a script, counts prompt tokens with the kernel's
rule (1 token per 4 characters) and prices its usage with
:meth:`ModelInfo.cost`, as a model plugin must.

Run as a program, it registers the test plugin and runs the real ``az`` CLI
with the remaining arguments (so subprocess tests can run ``az task run``
against a priced model)::

    python azcost_support.py task run "..." --model cost-test/sonnet --max-cost 0.02
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from az_os import hookimpl
from az_os.models import Model
from az_os.tools import Tool, ToolContext
from az_os.types import (
    Message,
    ModelInfo,
    ModelRequest,
    ModelResponse,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)

#: Anthropic's list prices for claude-sonnet-4-5 (USD per token), as in
#: LiteLLM's model_prices_and_context_window.json.
SONNET_IN = 3e-06
SONNET_OUT = 1.5e-05
SONNET_CACHE_READ = 3e-07

COMPLETION_TOKENS = 200


class ScriptedModel(Model):
    """Calls ``cost_test.echo`` for ``tool_turns`` calls, then answers.

    ``delay_s`` makes each call take that long (seconds), so calls of
    concurrent tasks overlap. Usage per call: prompt tokens = :meth:`count_tokens` of the request,
    completion tokens = ``completion_tokens``, USD = ``info.cost(...)``.
    """

    def __init__(
        self,
        info: ModelInfo,
        tool_turns: int = 100,
        completion_tokens: int = COMPLETION_TOKENS,
        delay_s: float = 0.0,
    ) -> None:
        self.info = info
        self.tool_turns = tool_turns
        self.completion_tokens = completion_tokens
        self.delay_s = delay_s
        self.calls = 0

    def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)  # a call that takes time, like a real provider
        prompt = self.count_tokens(request)
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=self.completion_tokens,
            cost_usd=self.info.cost(prompt, self.completion_tokens),
        )
        if self.calls <= self.tool_turns and request.tools:
            msg = Message(
                role="assistant",
                tool_calls=[
                    ToolCall(name="cost_test.echo", arguments={"text": f"step {self.calls}"})
                ],
            )
            return ModelResponse(
                model=self.info.id, message=msg, usage=usage, finish_reason="tool_calls"
            )
        msg = Message(role="assistant", content=f"done after {self.calls} calls")
        return ModelResponse(model=self.info.id, message=msg, usage=usage, finish_reason="stop")


class EchoTool(Tool):
    spec = ToolSpec(
        name="cost_test.echo",
        description="Echo the text back.",
        input_schema={
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
        read_only=True,
    )

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult(success=True, result=arguments["text"])


def sonnet_info(**kw: Any) -> ModelInfo:
    data: dict[str, Any] = {
        "id": "cost-test/sonnet",
        "provider": "cost-test",
        "context_window": 200_000,
        "input_cost_per_token": SONNET_IN,
        "output_cost_per_token": SONNET_OUT,
        "cache_read_cost_per_token": SONNET_CACHE_READ,
        "price_source": "test: Anthropic list price of claude-sonnet-4-5",
        "supports_tools": True,
    }
    data.update(kw)
    return ModelInfo(**data)


def local_info(**kw: Any) -> ModelInfo:
    data: dict[str, Any] = {
        "id": "cost-test/local",
        "provider": "cost-test",
        "context_window": 8192,
        "price_source": "local: free",
        "supports_tools": True,
        "local": True,
    }
    data.update(kw)
    return ModelInfo(**data)


class ScriptedPlugin:
    """A plugin object: the scripted models and the echo tool."""

    def __init__(self, models: list[Model] | None = None) -> None:
        self.models = (
            models
            if models is not None
            else [
                ScriptedModel(sonnet_info()),
                ScriptedModel(local_info()),
            ]
        )

    @hookimpl
    def az_register_models(self, register: Any) -> None:
        for m in self.models:
            register(m)

    @hookimpl
    def az_register_tools(self, register: Any) -> None:
        register(EchoTool())


def main(argv: list[str]) -> None:
    from az_os.cli import main as az_main
    from az_os.plugins import get_host

    # AZCOST_DELAY_S / AZCOST_COMPLETION_TOKENS shape the priced model's calls.
    delay = float(os.environ.get("AZCOST_DELAY_S", "0"))
    completion = int(os.environ.get("AZCOST_COMPLETION_TOKENS", str(COMPLETION_TOKENS)))
    models: list[Model] = [
        ScriptedModel(sonnet_info(), completion_tokens=completion, delay_s=delay),
        ScriptedModel(local_info()),
    ]
    get_host().register(ScriptedPlugin(models), name="cost-test")
    az_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
