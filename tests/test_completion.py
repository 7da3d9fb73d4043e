"""az_os.completion and the aichat.complete tool: one routed, costed model
call outside a ReAct turn, on the real engine, storage and hooks with the
scripted model plugin."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from az_os import hookimpl
from az_os import scripted as az_scripted
from az_os.errors import BudgetExceededError, ConfigError
from az_os.types import Task
from conftest import has_plugin, has_storage

pytestmark = pytest.mark.skipif(
    not (has_storage() and has_plugin("tools")), reason="needs az-sqlite and az-tools"
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.veto: set[str] = set()
        self.route_to: str | None = None

    @hookimpl
    def az_before_model_call(self, task: Any, request: Any, model: Any) -> None:
        self.calls.append(("before", task.id, model.info.id))
        if model.info.id in self.veto:
            raise BudgetExceededError(f"budget: {model.info.id} refused")

    @hookimpl
    def az_after_model_call(self, task: Any, request: Any, response: Any, usage: Any) -> None:
        self.calls.append(("after", task.id, f"{response.model}:{usage.cost_usd:.9f}"))

    @hookimpl
    def az_route(self, task: Any, request: Any, candidates: list[Any]) -> Any:
        return next((m for m in candidates if m.info.id == self.route_to), None)


@pytest.fixture
def env(az_home, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    from az_os.config import load_config
    from az_os.drivers import get_storage
    from az_os.engine import ExecutionEngine
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "tools,sqlite")
    host = get_host()  # the process's host: the one tools reach (as in the CLI)
    host.register(az_scripted, "scripted")
    recorder = Recorder()
    host.register(recorder, "recorder")
    config = load_config()
    ws = tmp_path / "ws"
    ws.mkdir()
    return host, recorder, ExecutionEngine(config, get_storage(config), host), ws, config


def _run(engine: Any, ws: Any) -> Task:
    task = Task(
        description="What is six times seven?",
        workspace=str(ws),
        approval="ask",  # aichat.complete is read-only: it runs without asking
        model="scripted/cheap",
    )
    return asyncio.run(engine.execute(task))


def test_the_tool_is_registered_by_the_kernel(env) -> None:  # type: ignore[no-untyped-def]
    host = env[0]
    spec = host.tools()["aichat.complete"].spec
    assert spec.plugin == "az_os.default_plugins.aichat" and spec.read_only
    assert spec.input_schema["required"] == ["prompt"]
    assert set(spec.input_schema["properties"]) == {"prompt", "model", "temperature", "max_tokens"}


def test_a_sub_question_goes_to_another_model_and_is_costed(env) -> None:  # type: ignore[no-untyped-def]
    host, rec, engine, ws, _ = env
    call = {"prompt": "What is 6*7? Digits only.", "model": "premium", "max_tokens": 20}
    az_scripted.set_script([{"tool": "aichat.complete", "arguments": call}, {"answer": "42"}])
    az_scripted.set_script([{"answer": "42 (from premium)"}], "scripted/premium")
    done = _run(engine, ws)
    assert done.status.value == "completed" and done.result == "42"
    # the sub-call went through the same hooks, under the calling task's id
    sub = [c for c in rec.calls if c[2].startswith("scripted/premium")]
    assert [c[0] for c in sub] == ["before", "after"]
    assert {c[1] for c in rec.calls} == {done.id}
    assert float(sub[1][2].split(":")[1]) > 0  # premium is paid: USD recorded
    premium_request = az_scripted.REQUESTS[-2]
    assert premium_request.tools == [] and premium_request.max_tokens == 20
    assert premium_request.messages[-1].content == call["prompt"]
    # the tool result the agent read carries the answer, model, tokens and USD
    tool_msg = next(m for m in az_scripted.REQUESTS[-1].messages if m.role == "tool")
    result = json.loads(tool_msg.content)
    assert result["answer"] == "42 (from premium)" and result["model"] == "scripted/premium"
    assert result["prompt_tokens"] > 0 and result["cost_usd"] > 0


def test_a_budget_refusal_is_the_tool_result_not_a_crash(env) -> None:  # type: ignore[no-untyped-def]
    host, rec, engine, ws, _ = env
    rec.veto.add("scripted/premium")
    az_scripted.set_script(
        [
            {"tool": "aichat.complete", "arguments": {"prompt": "hi", "model": "premium"}},
            {"answer": "could not ask"},
        ]
    )
    done = _run(engine, ws)
    assert done.status.value == "completed"
    tool_msg = next(m for m in az_scripted.REQUESTS[-1].messages if m.role == "tool")
    assert "budget: scripted/premium refused" in tool_msg.content
    assert not any(c[0] == "after" and "premium" in c[2] for c in rec.calls)


def test_complete_is_routed_when_no_model_is_named(env) -> None:  # type: ignore[no-untyped-def]
    from az_os.completion import complete

    host, rec, _, ws, config = env
    task = Task(description="x", workspace=str(ws))
    az_scripted.set_script([{"answer": "cheap says"}])
    az_scripted.set_script([{"answer": "premium says"}], "scripted/premium")
    model, response = complete("Q?", task=task, host=host, config=config)
    assert model.info.id == "scripted/cheap"  # no router answer: the cheapest
    rec.route_to = "scripted/premium"
    model, response = complete("Q?", task=task, host=host, config=config, temperature=0.5)
    assert model.info.id == "scripted/premium" and response.message.content == "premium says"
    assert az_scripted.REQUESTS[-1].temperature == 0.5
    with pytest.raises(ConfigError):
        complete("  ", task=task, host=host, config=config)


def test_stream_records_the_call_once_the_stream_ends(env) -> None:  # type: ignore[no-untyped-def]
    from az_os import completion

    host, rec, _, ws, config = env
    task = Task(description="x", workspace=str(ws))
    model = host.find_model("scripted/cheap")
    request = completion.question_request(config, "Q?")
    az_scripted.set_script([{"answer": "streamed answer"}])
    deltas = completion.stream(host, task, request, model)
    first = next(deltas)
    assert first.text == "streamed answer"
    assert [c[0] for c in rec.calls] == ["before"]  # nothing recorded mid-stream
    assert list(deltas) == []
    assert rec.calls[-1][0] == "after" and rec.calls[-1][1] == task.id
    assert rec.calls[-1][2].startswith("scripted/cheap:") and not rec.calls[-1][2].endswith(
        ":0.000000000"
    )
    rec.veto = {"scripted/cheap"}
    with pytest.raises(BudgetExceededError):
        next(completion.stream(host, task, request, model))
