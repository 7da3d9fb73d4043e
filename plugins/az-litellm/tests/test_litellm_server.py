"""Completion, streaming, tool calls and usage against a real OpenAI-compatible
server: llama-cpp-python's own server serving SmolLM2-135M on loopback,
configured the way a user would, as ``[[models.custom]]`` with ``api_base``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from az_os.errors import NetworkError
from az_os.plugins import get_host
from az_os.testservers import free_port
from az_os.types import Message, ModelRequest, ToolSpec
from azlitellm_support import write_config

pytestmark = pytest.mark.slow

HELLO = ModelRequest(
    messages=[
        Message(role="system", content="You are a helpful assistant."),
        Message(role="user", content="Say hello to Ada."),
    ],
    max_tokens=24,
)
TIME_TOOL = ToolSpec(
    name="time_now",
    description="The current time in a city",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
ASK_TIME = ModelRequest(
    messages=[Message(role="user", content="What time is it in Paris?")],
    tools=[TIME_TOOL],
    tool_choice="required",
    max_tokens=48,
    # greedy: the server's sampler state moves with every request of the
    # session, so a sampled answer would depend on which tests ran before
    temperature=0.0,
)


@pytest.fixture
def local(az_home: Path, llama_server: str, monkeypatch):
    """The host with three custom models on the llama.cpp server: priced as
    gpt-4o-mini by LiteLLM's map, priced by config, and unpriced."""
    write_config(
        az_home,
        f"""
[litellm]
retries = 1
retry_base_s = 0.01
catalogue = false

[[models.custom]]
id = "openai/gpt-4o-mini"
alias = "mini-on-llama"
api_base = "{llama_server}"

[[models.custom]]
id = "openai/smollm2"
alias = "smol"
api_base = "{llama_server}"
input_cost_per_token = 1e-6
output_cost_per_token = 2e-6

[[models.custom]]
id = "openai/smollm2-free"
api_base = "{llama_server}"
""",
    )
    monkeypatch.setenv("AZ_LOAD_PLUGINS", "litellm")
    return get_host()


def test_complete_through_the_host_with_config_prices(local):
    model = local.find_model("smol")
    assert model.usable() == (True, "")
    resp = model.complete(HELLO)
    assert resp.model == "openai/smollm2"
    assert resp.message.role == "assistant"
    assert resp.message.content and resp.message.content.strip()
    assert resp.message.tool_calls == []
    u = resp.usage
    assert u.prompt_tokens > 10 and 0 < u.completion_tokens <= 24
    assert u.cost_usd == pytest.approx(u.prompt_tokens * 1e-6 + u.completion_tokens * 2e-6)
    assert resp.finish_reason in ("stop", "length")
    assert resp.duration_ms > 0


def test_usage_is_priced_by_litellm_for_a_model_it_knows(local):
    import litellm

    resp = local.find_model("mini-on-llama").complete(HELLO)
    u = resp.usage
    entry = litellm.model_cost["gpt-4o-mini"]
    assert u.cost_usd > 0
    assert u.cost_usd == pytest.approx(
        u.prompt_tokens * entry["input_cost_per_token"]
        + u.completion_tokens * entry["output_cost_per_token"]
    )


def test_unpriced_custom_model_costs_nothing_but_counts_tokens(local):
    model = local.find_model("openai/smollm2-free")
    assert model.info.price_source.startswith("unknown")
    resp = model.complete(HELLO)
    assert resp.usage.cost_usd == 0.0
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0


def test_stream_yields_text_then_usage(local):
    deltas = list(local.find_model("smol").stream(HELLO))
    texts = [d.text for d in deltas if d.text]
    assert len(texts) > 1, "the answer arrives in several pieces"
    assert "".join(texts).strip()
    last = deltas[-1]
    assert (
        last.usage is not None and last.usage.completion_tokens > 0 and last.usage.prompt_tokens > 0
    )
    assert last.usage.cost_usd == pytest.approx(
        last.usage.prompt_tokens * 1e-6 + last.usage.completion_tokens * 2e-6
    )
    assert all(d.usage is None for d in deltas[:-1])


def test_tool_call_complete(local):
    resp = local.find_model("smol").complete(ASK_TIME)
    assert resp.message.content in (None, "")
    (call,) = resp.message.tool_calls
    assert call.name == "time_now"
    assert set(call.arguments) == {"city"} and isinstance(call.arguments["city"], str)
    assert call.id
    assert resp.usage.completion_tokens > 0


def test_tool_call_stream(local):
    deltas = list(local.find_model("smol").stream(ASK_TIME))
    last = deltas[-1]
    (call,) = last.tool_calls
    assert call.name == "time_now"
    assert set(call.arguments) == {"city"}
    assert last.usage is not None and last.usage.completion_tokens > 0


def test_tool_call_async(local):
    resp = asyncio.run(local.find_model("smol").acomplete(ASK_TIME))
    (call,) = resp.message.tool_calls
    assert call.name == "time_now"
    assert set(call.arguments) == {"city"}
    assert resp.finish_reason == "tool_calls"


def test_turns_after_a_tool_call_reach_the_server(local):
    """Turns 2 and 3 of a task: the assistant's tool-call message (no text)
    and the tool result go back to the server, which must answer, not fail
    its chat template with HTTP 500 (nor be retried as if it were down)."""
    model = local.find_model("smol")
    first = model.complete(ASK_TIME)
    (call,) = first.message.tool_calls
    history = [
        *ASK_TIME.messages,
        first.message,
        Message(role="tool", content="14:05", tool_call_id=call.id, name=call.name),
    ]
    # (no tools offered from here: the function-calling template's tool prompt
    # would not fit the test server's 2,048-token context twice)
    second = model.complete(ModelRequest(messages=history, max_tokens=32, temperature=0.0))
    assert second.usage.prompt_tokens > 0 and second.message.role == "assistant"
    assert model.last_retry_delays == []
    third_history = [*history, second.message, Message(role="user", content="And in Rome?")]
    third = model.complete(ModelRequest(messages=third_history, max_tokens=32, temperature=0.0))
    assert third.message.role == "assistant"
    assert third.usage.prompt_tokens > second.usage.prompt_tokens - 32


def test_connection_refused_is_a_network_error_after_retries():
    from az_litellm.registry import custom_model
    from az_litellm.settings import LiteLLMSettings
    from az_os.config import CustomModel

    port = free_port()  # nothing listens here
    model = custom_model(
        CustomModel(id="openai/nobody", api_base=f"http://127.0.0.1:{port}/v1"),
        LiteLLMSettings(retries=2, retry_base_s=0.01),
    )
    with pytest.raises(NetworkError, match="gave up after 3 attempts"):
        model.complete(HELLO)
    assert model.last_retry_delays == [0.01, 0.02]


def _az(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("az")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "az_os.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, env=env)


def test_az_ask_streams_from_the_custom_server(local, az_home: Path):
    env = {**os.environ, "AZ_LOAD_PLUGINS": "litellm"}
    out = _az(
        "ask", "Say hello to Ada.", "--model", "smol", "--max-tokens", "16", "--json", env=env
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model"] == "openai/smollm2"
    assert data["answer"].strip()
    assert data["prompt_tokens"] > 0 and 0 < data["completion_tokens"] <= 16
    assert data["cost_usd"] == pytest.approx(
        data["prompt_tokens"] * 1e-6 + data["completion_tokens"] * 2e-6
    )

    out = _az("ask", "Say hello to Ada.", "--model", "smol", "--max-tokens", "16", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_az_ask_with_a_missing_key_says_which_variable(local, az_home: Path):
    env = {**os.environ, "AZ_LOAD_PLUGINS": "litellm", "AZ_LITELLM__CATALOGUE": "true"}
    out = _az("ask", "hi", "--model", "sonnet", env=env)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "ANTHROPIC_API_KEY" in lines[0]
    assert "Traceback" not in out.stderr
