"""ReActEngine: the engine's loop whole (execute_react) or driven step by step
(reason/act/observe), on real storage (az-sqlite) and tools (az-tools) with
the scripted model. The step-driven loop must leave the same records as
ExecutionEngine.execute: that is what "one code path" means."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from az_os import hookimpl
from az_os import scripted as az_scripted
from az_os.errors import AzError, BudgetExceededError
from az_os.types import Task, TaskStatus
from conftest import has_plugin, has_storage

pytestmark = pytest.mark.skipif(
    not (has_storage() and has_plugin("tools")), reason="needs az-sqlite and az-tools installed"
)

SCRIPT = [
    {"tool": "filesystem.list", "arguments": {"path": "."}, "thought": "look first"},
    {
        "calls": [
            {"tool": "filesystem.read", "arguments": {"path": "a.txt"}},
            {"tool": "filesystem.read", "arguments": {"path": "missing.txt"}},
        ]
    },
    {"answer": "a.txt says a.txt"},
]


class Hooks:
    """Records the hooks the engine calls, and can refuse or break a model call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.veto_after: int | None = None
        self.crash_on: int | None = None

    @hookimpl
    def az_before_model_call(self, task, request, model):  # type: ignore[no-untyped-def]
        self.calls.append(("before_model", model.info.id))
        n = sum(1 for c in self.calls if c[0] == "before_model")
        if self.veto_after is not None and n > self.veto_after:
            raise BudgetExceededError("budget: next call refused")
        if self.crash_on == n:
            raise RuntimeError("hook bug")

    @hookimpl
    def az_after_model_call(self, task, request, response, usage):  # type: ignore[no-untyped-def]
        self.calls.append(("after_model", usage.total_tokens))

    @hookimpl
    def az_before_tool_call(self, task, call, tool):  # type: ignore[no-untyped-def]
        self.calls.append(("before_tool", call.name))

    @hookimpl
    def az_after_tool_call(self, task, call, result):  # type: ignore[no-untyped-def]
        self.calls.append(("after_tool", (call.name, result.success)))

    @hookimpl
    def az_task_event(self, task, event):  # type: ignore[no-untyped-def]
        self.calls.append(("event", event.type))


@pytest.fixture
def env(az_home, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    from az_os.config import load_config
    from az_os.drivers import get_storage
    from az_os.engine import ExecutionEngine
    from az_os.plugins import PluginHost
    from az_os.react import ReActEngine

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "tools,sqlite")
    host = PluginHost().load(warn=lambda m: None)
    host.register(az_scripted, "scripted")
    hooks = Hooks()
    host.register(hooks, "hooks")
    config = load_config()
    storage = get_storage(config)
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("a.txt", "b.txt"):
        (ws / name).write_text(name)

    class Env:
        pass

    e = Env()
    e.hooks, e.storage, e.ws = hooks, storage, ws
    e.engine = ExecutionEngine(config, storage, host)
    e.react = ReActEngine(config, storage, host)
    e.task = lambda **kw: Task(
        description="What does a.txt say?",
        workspace=str(ws),
        approval="auto",
        model="scripted/cheap",
        **kw,
    )
    return e


async def drive(engine, task, first: str = "") -> list[Any]:  # type: ignore[no-untyped-def]
    """The brief's loop by hand; the thoughts it saw."""
    thoughts = [await engine.reason(task, first)]
    while not thoughts[-1].final:
        for call in thoughts[-1].tool_calls:
            result = await engine.act(task, call.name, call.arguments)
            await engine.observe(task, result)
        thoughts.append(await engine.reason(task, ""))
    return thoughts


def records(env, task_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What a run leaves behind, without ids, times and durations."""
    task = env.storage.get_task(task_id)
    turns = env.storage.list_turns(task_id)
    return {
        "task": (
            task.status,
            task.result,
            task.error,
            task.model,
            task.prompt_tokens,
            task.completion_tokens,
            task.cost_usd,
        ),
        "turns": [
            (
                t.index,
                t.model,
                [(m.role, m.content, m.name, [c.name for c in m.tool_calls]) for m in t.messages],
                [(c.name, c.arguments) for c in t.tool_calls],
                [(r.success, r.result, r.error) for r in t.tool_results],
                t.usage.to_dict(),
            )
            for t in turns
        ],
        "tool_usage": sorted(
            (u.tool_name, u.invocation_count) for u in env.storage.list_tool_usage(task_id)
        ),
        "logs": [(r.level, r.message) for r in env.storage.list_logs(task_id)],
    }


def test_hand_driven_loop_records_what_execute_records(env):
    az_scripted.set_script(SCRIPT)
    done = asyncio.run(env.engine.execute(env.task()))
    by_engine, engine_hooks = records(env, done.id), list(env.hooks.calls)
    env.hooks.calls.clear()

    az_scripted.set_script(SCRIPT)
    task = env.task()
    thoughts = asyncio.run(drive(env.react, task))
    by_hand = records(env, task.id)

    assert by_engine["task"][0] is TaskStatus.COMPLETED
    assert len(by_engine["turns"]) == 3 and by_engine["tool_usage"] == [
        ("filesystem.list", 1),
        ("filesystem.read", 2),
    ]
    assert by_hand == by_engine
    assert env.hooks.calls == engine_hooks  # same hooks, same order
    # the thoughts the caller saw: the model's text, its calls, then the answer
    assert [str(t) for t in thoughts] == ["look first", "", "a.txt says a.txt"]
    assert [len(t.tool_calls) for t in thoughts] == [1, 2, 0]
    assert thoughts[-1].final and thoughts[-1].status is TaskStatus.COMPLETED
    # the caller's Task object followed the run
    assert task.status is TaskStatus.COMPLETED and task.result == "a.txt says a.txt"
    assert task.cost_usd == pytest.approx(by_engine["task"][6]) and task.cost_usd > 0


def test_act_and_observe_return_the_brief_shapes(env):
    az_scripted.set_script(SCRIPT)
    task = env.task()

    async def go() -> None:
        thought = await env.react.reason(task, "")
        assert thought == "look first" and isinstance(thought, str)
        assert task.status is TaskStatus.RUNNING and task.prompt_tokens > 0
        call = thought.tool_calls[0]
        result = await env.react.act(task, call.name, call.arguments)
        assert result["success"] is True and result["tool_call_id"] == call.id
        assert result["name"] == "filesystem.list" and result["duration_ms"] > 0
        names = [e["name"] for e in result["result"]["entries"]]
        assert names == ["a.txt", "b.txt"]
        text = await env.react.observe(task, result)
        assert "a.txt" in text and "b.txt" in text
        assert await env.react.observe(task, result) == text  # observing twice adds nothing
        # the turn is recorded as soon as its only call is observed
        (turn,) = env.storage.list_turns(task.id)
        assert [m.role for m in turn.messages] == ["assistant", "tool"]
        assert turn.messages[1].content == text

    asyncio.run(go())


def test_execute_react_reads_the_initial_thought_like_a_first_reason(env):
    thought = "List the directory before reading anything."
    az_scripted.set_script(SCRIPT)
    done = asyncio.run(env.react.execute_react(env.task(), thought))
    first_request = az_scripted.REQUESTS[-3]
    assert [m.role for m in first_request.messages] == ["system", "user", "user"]
    assert first_request.messages[2].content == thought
    turn1 = env.storage.list_turns(done.id)[0]
    assert [m.role for m in turn1.messages] == ["user", "assistant", "tool"]  # kept for resume
    # the second call sees it once, before the first turn's answer
    second = [m.content for m in az_scripted.REQUESTS[-2].messages if m.role == "user"]
    assert second == ["What does a.txt say?", thought]

    az_scripted.set_script(SCRIPT)
    task = env.task()
    asyncio.run(drive(env.react, task, first=thought))
    assert records(env, task.id) == records(env, done.id)


def test_callers_own_action_is_observed_through_reason(env):
    az_scripted.set_script(
        [{"tool": "filesystem.list", "arguments": {"path": "."}}, {"answer": "b.txt says b.txt"}]
    )
    task = env.task()

    async def go() -> str:
        thought = await env.react.reason(task, "")
        asked = thought.tool_calls[0]
        own = await env.react.act(task, "filesystem__read", {"path": "b.txt"})  # either name form
        assert own["tool_call_id"] is None and own["name"] == "filesystem.read"
        own_text = await env.react.observe(task, own)
        assert '"content": "b.txt"' in own_text
        await env.react.observe(task, await env.react.act(task, asked.name, asked.arguments))
        final = await env.react.reason(task, own_text)
        assert final.final and final == "b.txt says b.txt"
        return own_text

    own_text = asyncio.run(go())
    last = az_scripted.REQUESTS[-1].messages
    assert (last[-1].role, last[-1].content) == ("user", own_text)  # the caller's observation
    turns = env.storage.list_turns(task.id)
    assert [m.role for m in turns[1].messages] == ["user", "assistant"]
    usage = {u.tool_name: u.invocation_count for u in env.storage.list_tool_usage(task.id)}
    assert usage == {"filesystem.list": 1, "filesystem.read": 1}  # the own action is recorded


def test_calls_not_acted_on_are_recorded_as_not_run(env):
    az_scripted.set_script([SCRIPT[1], {"answer": "only a"}])
    task = env.task()

    async def go() -> None:
        thought = await env.react.reason(task, "")
        second = thought.tool_calls[1]
        # the second call first: the record keeps the model's order anyway
        await env.react.observe(task, await env.react.act(task, second.name, second.arguments))
        assert env.storage.list_turns(task.id) == []  # the turn is still open
        final = await env.react.reason(task, "")
        assert final.status is TaskStatus.COMPLETED

    asyncio.run(go())
    turn = env.storage.list_turns(task.id)[0]
    assert [r.success for r in turn.tool_results] == [False, False]
    assert "not run" in turn.tool_results[0].error
    assert "missing.txt" in turn.tool_results[1].error
    tools = [m.tool_call_id for m in turn.messages if m.role == "tool"]
    assert tools == [c.id for c in turn.tool_calls]
    assert ("before_tool", "filesystem.read") in env.hooks.calls
    assert sum(1 for c in env.hooks.calls if c[0] == "before_tool") == 1


def test_turn_limit_and_budget_end_the_task_in_reason(env):
    az_scripted.set_script([SCRIPT[0]] * 3)
    task = env.task(max_turns=2)
    thoughts = asyncio.run(drive(env.react, task))
    assert thoughts[-1].final and thoughts[-1].status is TaskStatus.FAILED
    assert "turn limit (2 turns)" in thoughts[-1] and task.error == str(thoughts[-1])

    env.hooks.veto_after = 0
    budget = env.task()
    thought = asyncio.run(env.react.reason(budget, ""))
    assert thought.final and thought.status is TaskStatus.FAILED and "refused" in thought
    assert env.storage.get_task(budget.id).status is TaskStatus.FAILED


def test_unexpected_error_interrupts_and_the_task_resumes(env):
    az_scripted.set_script(SCRIPT)
    env.hooks.crash_on = 2
    task = env.task()

    async def first() -> None:
        thought = await env.react.reason(task, "")
        call = thought.tool_calls[0]
        await env.react.observe(task, await env.react.act(task, call.name, call.arguments))
        with pytest.raises(RuntimeError, match="hook bug"):
            await env.react.reason(task, "")

    asyncio.run(first())
    stored = env.storage.get_task(task.id)
    assert stored.status is TaskStatus.INTERRUPTED and "hook bug" in stored.error
    env.hooks.crash_on = None

    # a fresh engine (another process, say) continues from the last complete turn
    from az_os.react import ReActEngine

    again = ReActEngine(env.react.config, env.storage, env.react.host)
    thoughts = asyncio.run(drive(again, Task(description="ignored", id=task.id)))
    assert thoughts[-1].status is TaskStatus.COMPLETED
    assert [t.index for t in env.storage.list_turns(task.id)] == [1, 2, 3]
    with pytest.raises(AzError, match="already completed"):
        asyncio.run(again.reason(task, ""))


def test_concurrent_first_steps_open_the_task_once(env):
    az_scripted.set_script([{"answer": "one"}])
    task = env.task()

    async def go() -> list[Any]:
        return await asyncio.gather(
            env.react.act(task, "filesystem.list", {"path": "."}),
            env.react.act(task, "filesystem.list", {"path": "."}),
        )

    results = asyncio.run(go())
    assert all(r["success"] for r in results)
    assert [e for h, e in env.hooks.calls if h == "event"].count("created") == 1
    assert env.storage.get_task(task.id).status is TaskStatus.RUNNING
