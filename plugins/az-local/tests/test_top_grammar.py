"""The grammar checked over the top candidates first (az_local.model.TopGrammar)
against llama.cpp's grammar sampler over the whole vocabulary, on the real
embedded model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from az_os.types import Message, ModelRequest, ToolSpec

TOOLS = [
    ToolSpec(
        name="filesystem.read",
        description="Read a text file.",
        input_schema={
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    ),
    ToolSpec(
        name="time.now",
        description="Current time in a time zone.",
        input_schema={
            "type": "object",
            "properties": {"tz": {"type": "string", "enum": ["UTC", "CET"]}},
            "required": ["tz"],
        },
    ),
]

PROMPTS = [
    "What is in settings.ini?",
    "What time is it in Berlin?",
    "Say hello.",
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_output_is_the_same_as_with_the_full_vocabulary_check(
    model: Any, monkeypatch: pytest.MonkeyPatch, prompt: str
) -> None:
    req = ModelRequest(
        messages=[Message(role="user", content=prompt)],
        tools=TOOLS,
        max_tokens=96,
        temperature=0.0,
    )
    monkeypatch.setenv("AZ_LOCAL_GRAMMAR", "full")
    full = model.complete(req)
    monkeypatch.delenv("AZ_LOCAL_GRAMMAR")
    top = model.complete(req)
    assert top.message.content == full.message.content
    assert [(c.name, c.arguments) for c in top.message.tool_calls] == [
        (c.name, c.arguments) for c in full.message.tool_calls
    ]
    assert top.usage.completion_tokens == full.usage.completion_tokens


def test_grammar_holds_when_no_top_candidate_is_allowed(model: Any) -> None:
    """A grammar the model would never follow by itself: every token comes
    from the whole-vocabulary check, and the output is still the grammar's."""
    from az_local.model import TopGrammar
    from llama_cpp import LogitsProcessorList

    loaded = model.load()
    processor = TopGrammar(loaded.llama, 'root ::= "qzx" [0-9] "!"\n', top_k=4)
    # the same processor twice: the second completion starts the grammar again
    for _ in range(2):
        with loaded.lock:
            out = loaded.llama.create_chat_completion(
                messages=[{"role": "user", "content": "Write one word."}],
                max_tokens=16,
                temperature=0.0,
                logits_processor=LogitsProcessorList([processor]),
            )
        text = out["choices"][0]["message"]["content"]
        assert text[:3] == "qzx" and text[3].isdigit() and text[4:] == "!"
    assert processor.full_checks >= 1
    assert processor.calls >= processor.full_checks


def test_sampled_tool_calls_stay_valid_json(model: Any) -> None:
    """With a temperature, only allowed top candidates are sampled: every
    reply is still one parseable action."""
    for seed_prompt in ("Read notes.txt", "Time in UTC?", "Read a.py then b.py"):
        req = ModelRequest(
            messages=[Message(role="user", content=seed_prompt)],
            tools=TOOLS,
            max_tokens=96,
            temperature=0.9,
        )
        r = model.complete(req)
        if r.message.tool_calls:
            call = r.message.tool_calls[0]
            assert call.name in {"filesystem.read", "time.now"}
            json.dumps(call.arguments)
        else:
            assert isinstance(r.message.content, str)


def test_extra_buffers_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from az_local.model import extra_buffers_wanted

    monkeypatch.setenv("AZ_LOCAL_EXTRA_BUFFERS", "0")
    assert extra_buffers_wanted() is False
    monkeypatch.setenv("AZ_LOCAL_EXTRA_BUFFERS", "1")
    assert extra_buffers_wanted() is True
    monkeypatch.delenv("AZ_LOCAL_EXTRA_BUFFERS")
    with open("/proc/cpuinfo", errors="replace") as f:
        amx = " amx_tile" in f.read()
    assert extra_buffers_wanted() is (not amx)
