"""LiteLLMClient (the brief's Python API) on the kernel's call path: the
provider's HTTP API mocked with respx, and a real local model (SmolLM2 on
llama.cpp's OpenAI-compatible server) where a local model id is given."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import respx
from az_litellm import LiteLLMClient
from az_os import hookimpl
from az_os.errors import BudgetExceededError, ConfigError, NotFoundError
from az_os.testing import ModelCallRecorder
from az_os.types import Task
from azlitellm_support import openai_ok, write_config

OPENAI_URL = "https://api.openai.com/v1/chat/completions"


@pytest.fixture
def hosted(az_home, monkeypatch):  # type: ignore[no-untyped-def]
    from az_os.plugins import get_host

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test")
    monkeypatch.setenv("AZ_LOAD_PLUGINS", "litellm")
    write_config(az_home, "[litellm]\nretries = 1\nretry_base_s = 0.01\n")
    calls = ModelCallRecorder()
    get_host().register(calls, name="calls")
    return calls


def openai_answer(request: httpx.Request, text: str = "Paris.") -> httpx.Response:
    return openai_ok(  # type: ignore[no-any-return]
        {"role": "assistant", "content": text},
        {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
        model=json.loads(request.content)["model"],
    )


@respx.mock
def test_generate_through_the_hooks_with_the_models_prices(hosted):
    route = respx.post(OPENAI_URL).mock(side_effect=openai_answer)
    client = LiteLLMClient()
    out = asyncio.run(client.generate("Capital of France?", "openai/gpt-4o-mini", max_tokens=50))
    sent = json.loads(route.calls.last.request.content)
    assert sent["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert sent["max_tokens"] == 50 and sent["temperature"] == 0.7
    assert out["content"] == "Paris." and out["model"] == "openai/gpt-4o-mini"
    assert (out["prompt_tokens"], out["completion_tokens"]) == (1000, 200)
    # gpt-4o-mini at LiteLLM's listed 0.15 / 0.60 USD per 1M tokens
    assert out["cost_usd"] == pytest.approx(1000 * 0.15e-6 + 200 * 0.60e-6)
    assert [s[:2] for s in hosted.seen] == [("before", out["task_id"]), ("after", out["task_id"])]
    assert hosted.seen[0][2] == "openai/gpt-4o-mini"
    assert (hosted.seen[1][2].prompt_tokens, hosted.seen[1][2].completion_tokens) == (1000, 200)


@respx.mock
def test_chat_with_a_task_and_tools(hosted):
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert [t["function"]["name"] for t in body["tools"]] == ["aichat__complete"]
        call = {"id": "call_1", "type": "function",
                "function": {"name": "aichat__complete", "arguments": '{"prompt": "2+2?"}'}}  # fmt: skip
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            },
        )

    respx.post(OPENAI_URL).mock(side_effect=answer)
    task = Task(description="report", max_cost_usd=0.5)
    client = LiteLLMClient(task=task)
    messages = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Ask another model: 2+2?"},
    ]
    out = asyncio.run(client.chat(messages, "gpt-4o-mini", tools=["aichat.*"]))
    assert out["tool_calls"] == [
        {"id": "call_1", "name": "aichat__complete", "arguments": {"prompt": "2+2?"}}
    ]
    assert out["task_id"] == task.id and out["finish_reason"] == "tool_calls"
    with pytest.raises(ConfigError, match="no tool matches nothing.*"):
        asyncio.run(client.chat(messages, "gpt-4o-mini", tools=["nothing.*"]))


@respx.mock
def test_budget_refusal_and_bad_input_call_no_provider(hosted):
    route = respx.post(OPENAI_URL).mock(side_effect=openai_answer)
    client = LiteLLMClient()
    hosted.refuse = "task budget reached"
    with pytest.raises(BudgetExceededError):
        asyncio.run(client.generate("hi", "openai/gpt-4o-mini"))
    hosted.refuse = None
    with pytest.raises(NotFoundError):
        asyncio.run(client.generate("hi", "openai/no-such-model-xyz"))
    with pytest.raises(ConfigError, match="empty"):
        asyncio.run(client.generate("   ", "openai/gpt-4o-mini"))
    assert not route.called


class PickMini:
    """A router: the az_route hook choosing gpt-4o-mini among the candidates."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    @hookimpl(tryfirst=True)
    def az_route(self, task, request, candidates):  # type: ignore[no-untyped-def]
        self.asked.append([m.info.id for m in candidates])
        return next((m for m in candidates if m.info.id == "openai/gpt-4o-mini"), None)


@respx.mock
def test_auto_is_routed_by_the_az_route_hook(hosted):
    from az_os.plugins import get_host

    router = PickMini()
    get_host().register(router, name="pick-mini")
    route = respx.post(OPENAI_URL).mock(side_effect=openai_answer)
    out = asyncio.run(LiteLLMClient().generate("hi", "auto"))
    assert out["model"] == "openai/gpt-4o-mini"
    assert json.loads(route.calls.last.request.content)["model"] == "gpt-4o-mini"
    assert len(router.asked) == 1 and "openai/gpt-4o-mini" in router.asked[0]
    # a model named by the caller is used as given: no routing
    asyncio.run(LiteLLMClient().generate("hi", "openai/gpt-4.1"))
    assert len(router.asked) == 1


@respx.mock
def test_stream_generate_yields_pieces_and_records_at_the_end(hosted):
    def sse(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["stream"] is True
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"}}]},
            {"choices": [{"index": 0, "delta": {"content": "is."}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
            },
        ]
        lines = [
            "data: "
            + json.dumps(
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": body["model"],
                    **c,
                }
            )  # fmt: skip
            for c in chunks
        ]
        text = "\n\n".join([*lines, "data: [DONE]"]) + "\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=text)

    respx.post(OPENAI_URL).mock(side_effect=sse)

    async def collect() -> list[str]:
        return [p async for p in LiteLLMClient().stream_generate("Capital?", "openai/gpt-4o-mini")]

    pieces = asyncio.run(collect())
    assert pieces == ["Par", "is."]
    assert [s[0] for s in hosted.seen] == ["before", "after"]
    assert (hosted.seen[1][2].prompt_tokens, hosted.seen[1][2].completion_tokens) == (9, 2)


# -- a real local model ----------------------------------------------------------
@pytest.fixture
def local(az_home: Path, llama_server: str, monkeypatch):  # type: ignore[no-untyped-def]
    write_config(
        az_home,
        f"""
[litellm]
retries = 1
catalogue = false

[[models.custom]]
id = "openai/smollm2"
alias = "smol"
api_base = "{llama_server}"
input_cost_per_token = 1e-6
output_cost_per_token = 2e-6
""",
    )
    monkeypatch.setenv("AZ_LOAD_PLUGINS", "litellm")


@pytest.mark.slow
def test_local_model_generate_and_stream(local):
    client = LiteLLMClient()
    out = asyncio.run(client.generate("Say hello to Ada.", "smol", temperature=0.0, max_tokens=16))
    assert out["model"] == "openai/smollm2" and out["content"].strip()
    assert 0 < out["completion_tokens"] <= 16
    assert out["cost_usd"] == pytest.approx(
        out["prompt_tokens"] * 1e-6 + out["completion_tokens"] * 2e-6
    )

    async def collect() -> list[str]:
        return [
            p
            async for p in client.stream_generate(
                "Say hello to Ada.", "smol", temperature=0.0, max_tokens=16
            )
        ]

    pieces = asyncio.run(collect())
    assert len(pieces) > 1 and "".join(pieces).strip()
