"""The JSON-action schema, grammar text and message conversion (no model needed)."""

from __future__ import annotations

import json
import re

import pytest
from az_local.actions import (
    ANSWER_MAX_CHARS,
    STRING_MAX_CHARS,
    action_gbnf,
    action_schema,
    bounded_schema,
    chat_messages,
    parse_action,
)
from az_os.errors import InvalidRequestError
from az_os.types import Message, ToolCall, ToolSpec

READ = ToolSpec(
    name="filesystem.read",
    description="Read a text file.\nMore details here.",
    input_schema={
        "type": "object",
        "properties": {"path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
        "required": ["path"],
    },
)


def test_bounded_schema_forbids_extra_keys_and_bounds_strings() -> None:
    s = bounded_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": ["string", "null"]},
                "c": {"type": "array"},
                "d": {},
            },
            "required": ["a", "z"],
            "additionalProperties": True,
        }
    )
    assert s["additionalProperties"] is False
    assert s["properties"]["a"]["maxLength"] == STRING_MAX_CHARS
    assert s["properties"]["z"]["type"] == "string"  # required but undeclared
    assert {b.get("type") for b in s["properties"]["b"]["anyOf"]} == {"string", "null"}
    assert s["properties"]["c"]["maxItems"] > 0
    assert s["properties"]["d"] == {"type": "string", "maxLength": STRING_MAX_CHARS}


def test_small_integer_ranges_become_enums() -> None:
    assert bounded_schema({"type": "integer", "minimum": 1, "maximum": 5}) == {
        "enum": [1, 2, 3, 4, 5]
    }
    assert "enum" not in bounded_schema({"type": "integer", "minimum": 0, "maximum": 10**6})


def test_action_schema_branches() -> None:
    s = action_schema([READ])
    assert len(s["anyOf"]) == 2
    tool, final = s["anyOf"]
    assert tool["properties"]["tool"] == {"const": "filesystem.read"}
    assert tool["required"] == ["thought", "tool", "arguments"]
    assert final["properties"]["final_answer"]["maxLength"] == ANSWER_MAX_CHARS
    only = action_schema([READ], tool_choice="required")
    assert "anyOf" not in only and only["properties"]["tool"]["const"] == "filesystem.read"
    with pytest.raises(ValueError):
        action_schema([])


def test_grammar_uses_bounded_repetition_not_nesting() -> None:
    text = action_gbnf([READ])
    assert text.startswith("root ::= ")
    assert f"char{{0,{ANSWER_MAX_CHARS}}}" in text
    assert "(char (char" not in text  # nested expansion would break llama.cpp's parser
    # a minimum of 1 keeps zero and negatives out of the integer rule
    limit_rule = re.search(r'"\\"limit\\"" ws ":" ws (\S+)', text).group(1)
    assert re.search(rf"^{limit_rule} ::= \[1-9\]", text, re.M)
    # control characters are not allowed raw inside strings (json.loads would refuse them)
    assert r"\x00-\x1F" in text


def test_messages_become_plain_chat_with_tool_instructions() -> None:
    call = ToolCall(name="filesystem.read", arguments={"path": "a.txt"})
    msgs = [
        Message(role="system", content="Be brief."),
        Message(role="user", content="read a.txt"),
        Message(role="assistant", content="I will read it", tool_calls=[call]),
        Message(role="tool", content="hello", tool_call_id=call.id),
    ]
    out = chat_messages(msgs, [READ], "auto")
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"].startswith("Be brief.")
    assert (
        "filesystem.read(path: string, limit: integer (optional)): Read a text file."
        in out[0]["content"]
    )
    assert json.loads(out[2]["content"]) == {
        "thought": "I will read it",
        "tool": "filesystem.read",
        "arguments": {"path": "a.txt"},
    }
    assert out[3]["content"] == "Result of filesystem.read: hello"
    assert chat_messages([Message(role="user", content="hi")], [], "auto") == [
        {"role": "user", "content": "hi"}
    ]


def test_parse_action() -> None:
    msg = parse_action(
        '{"thought":"t","tool":"filesystem.read","arguments":{"path":"x"}}',
        [READ],
        "stop",
        "m",
        100,
    )
    assert msg.content == "t" and msg.tool_calls[0].name == "filesystem.read"
    assert msg.tool_calls[0].arguments == {"path": "x"}
    msg = parse_action('{"thought":"t","final_answer":"42"}', [READ], "stop", "m", 100)
    assert msg.content == "42" and not msg.tool_calls
    with pytest.raises(InvalidRequestError, match="cut off at max_tokens=7"):
        parse_action('{"thought":"t","tool":"filesy', [READ], "length", "m", 7)


def test_local_refs_are_inlined_and_recursion_is_cut() -> None:
    from az_local.actions import inline_refs

    schema = {
        "type": "object",
        "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
        "properties": {"root": {"$ref": "#/$defs/node"}},
    }
    out = inline_refs(schema)
    assert "$defs" not in out
    node = out["properties"]["root"]
    depth = 0
    while node.get("type") == "object":
        node = node["properties"]["child"]
        depth += 1
    assert depth == 6 and node == {"type": "null"}
    assert "$ref" not in json.dumps(out)
