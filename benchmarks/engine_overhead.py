"""The ReAct engine's own cost per turn, without model or tool time.

A model that answers instantly from a script (2 tool calls, then an answer)
and a tool that returns at once run through the real engine, plugin host and
storage backend (SQLite in a temp AZ_HOME). Prints:

  - per-turn engine time, p50/p95 (ms): wall time of a task / its turns, over
    sequential tasks; model and tool time are ~0 by construction
  - wall time (s) of N concurrent tasks of 3 turns each in one process, and
    whether every task and turn record arrived

Targets (issue #5): under 5 ms per turn; 100 concurrent tasks without errors
or lost records.

    python benchmarks/engine_overhead.py [--tasks 200] [--concurrent 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", type=int, default=200, help="sequential tasks for the per-turn figure"
    )
    parser.add_argument("--concurrent", type=int, default=100, help="tasks run at once")
    args = parser.parse_args()
    os.environ["AZ_HOME"] = tempfile.mkdtemp(prefix="az-bench-")
    os.environ["AZ_LOAD_PLUGINS"] = "sqlite"

    from az_os import hookimpl
    from az_os.config import load_config
    from az_os.drivers import get_storage
    from az_os.engine import ExecutionEngine
    from az_os.models import Model
    from az_os.plugins import PluginHost
    from az_os.tools import Tool, ToolContext
    from az_os.types import (
        Message,
        ModelInfo,
        ModelRequest,
        ModelResponse,
        Task,
        TaskStatus,
        ToolCall,
        ToolResult,
        ToolSpec,
        Usage,
    )

    class Instant(Model):
        info = ModelInfo(
            id="bench/instant", provider="bench", supports_tools=True, price_source="free"
        )

        def complete(self, request: ModelRequest) -> ModelResponse:
            done = sum(1 for m in request.messages if m.role == "tool")
            if done < 2:
                msg = Message(
                    role="assistant",
                    content="next",
                    tool_calls=[ToolCall(name="bench.noop", arguments={"n": done})],
                )
            else:
                msg = Message(role="assistant", content="finished")
            return ModelResponse(
                model=self.info.id,
                message=msg,
                usage=Usage(prompt_tokens=100, completion_tokens=10),
            )

        async def acomplete(self, request: ModelRequest) -> ModelResponse:
            return self.complete(request)

    class Noop(Tool):
        spec = ToolSpec(
            name="bench.noop",
            description="does nothing",
            read_only=True,
            input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        )

        def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
            return ToolResult(success=True, result=arguments)

        async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
            return self.run(arguments, ctx)

    class BenchPlugin:
        @hookimpl
        def az_register_models(self, register: Any) -> None:
            register(Instant())

        @hookimpl
        def az_register_tools(self, register: Any) -> None:
            register(Noop())

    host = PluginHost().load(warn=lambda m: None)
    host.register(BenchPlugin(), "bench")
    config = load_config()
    storage = get_storage(config)
    engine = ExecutionEngine(config, storage, host)
    ws = tempfile.mkdtemp(prefix="az-bench-ws-")

    def task() -> Task:
        return Task(description="bench", model="bench/instant", workspace=ws, approval="auto")

    per_turn: list[float] = []

    async def sequential() -> None:
        # one event loop for all, as in a server or a long-running process
        for _ in range(args.tasks):
            t = task()
            start = time.perf_counter()
            done = await engine.execute(t)
            assert done.status == TaskStatus.COMPLETED, done.error
            per_turn.append((time.perf_counter() - start) * 1000 / 3)

    asyncio.run(sequential())
    per_turn.sort()
    p50 = statistics.median(per_turn)
    p95 = per_turn[int(len(per_turn) * 0.95) - 1]

    async def many() -> list[Task]:
        tasks = [task() for _ in range(args.concurrent)]
        return await asyncio.gather(*(engine.execute(t) for t in tasks), return_exceptions=True)  # type: ignore[arg-type]

    start = time.perf_counter()
    results = asyncio.run(many())
    wall = time.perf_counter() - start
    errors = [r for r in results if isinstance(r, BaseException)]
    ok = [
        r for r in results if not isinstance(r, BaseException) and r.status == TaskStatus.COMPLETED
    ]
    turns = sum(len(storage.list_turns(r.id)) for r in ok)

    print(
        f"engine overhead per turn (excluding model and tools), {args.tasks} sequential tasks of 3 turns"
    )
    print(f"  p50 {p50:.2f} ms   p95 {p95:.2f} ms   (target < 5 ms)")
    print(f"{args.concurrent} concurrent tasks of 3 turns in one process")
    print(
        f"  wall {wall:.2f} s   completed {len(ok)}/{args.concurrent}   errors {len(errors)}   "
        f"turn records {turns}/{3 * args.concurrent}"
    )
    if errors:
        print(f"  first error: {errors[0]!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
