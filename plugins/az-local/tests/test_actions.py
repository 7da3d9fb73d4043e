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
    assert tool["required"] == ["tool", "arguments"]
    assert "thought" not in tool["properties"]
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
        Message(role="system", content="Be brief.\n\nTools:\n- filesystem.read: Read a text file."),
        Message(role="user", content="read a.txt"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content="hello", tool_call_id=call.id, name="filesystem__read"),
    ]
    out = chat_messages(msgs, [READ], "auto")
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"].startswith("Be brief.")
    # the system message's own tool line is replaced by the signature and an example call
    assert "- filesystem.read: Read" not in out[0]["content"]
    assert (
        "filesystem.read(path: string, limit: integer (optional)): Read a text file."
        in out[0]["content"]
    )
    assert 'Example: {"tool": "filesystem.read", "arguments": {"path": ""}}' in out[0]["content"]
    assert "More details" not in out[0]["content"]
    # earlier calls are shown in the shape the grammar produces
    assert json.loads(out[2]["content"]) == {
        "tool": "filesystem.read",
        "arguments": {"path": "a.txt"},
    }
    # the tool's own (dotted) name, not the provider form the engine stores
    assert out[3]["content"] == "Result of filesystem.read:\nhello"
    assert chat_messages([Message(role="user", content="hi")], [], "auto") == [
        {"role": "user", "content": "hi"}
    ]


def test_example_arguments_never_invent_placeholders() -> None:
    from az_local.actions import example_arguments

    schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "default": "."},
            "name": {"type": "string"},
            "n": {"type": "integer"},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "tag": {"type": "string", "examples": ["x"]},
            "deep": {"type": "boolean"},
        },
        "required": ["name", "n", "mode"],
    }
    assert example_arguments(schema) == {"name": "", "n": 0, "mode": "a", "tag": "x"}


def test_results_are_rendered_as_short_lines() -> None:
    from az_local.actions import render_observation

    listing = {
        "path": ".",
        "entries": [
            {"name": "a.txt", "type": "file", "size": 1},
            {"name": "src", "type": "dir", "size": None},
        ],
        "count": 2,
        "truncated": False,
    }
    assert render_observation(json.dumps(listing)) == (
        "path: .\ncount: 2\nentries:\n- name: a.txt, type: file, size: 1\n- name: src, type: dir"
    )
    read = {"content": "line 1\nline 2\n", "total_lines": 2}
    assert render_observation(json.dumps(read)) == "content:\nline 1\nline 2\ntotal_lines: 2"
    assert render_observation("ERROR: no such file") == "ERROR: no such file"
    assert render_observation("[1, 2]") == "[1, 2]"
    long = render_observation(json.dumps({"stdout": "x" * 5000}))
    assert len(long) < 2100 and long.endswith("more characters not shown]")


def test_after_tool_calls_a_reply_without_tools_is_a_json_answer() -> None:
    from az_local.actions import answers_in_json, parse_answer

    call = ToolCall(name="filesystem.read", arguments={"path": "a.txt"})
    msgs = [
        Message(
            role="system",
            content="Be brief.\n\nTools:\n- filesystem.read: Read a text file.\n- other.tool: x",
        ),
        Message(role="user", content="read a.txt"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content="hello", tool_call_id=call.id),
        Message(role="user", content="Answer now."),
    ]
    assert answers_in_json(msgs) and not answers_in_json(msgs[:2])
    out = chat_messages(msgs, [], "auto")
    assert out[0]["content"] == 'Be brief.\n\nReply with one JSON object: {"final_answer": "..."}'
    assert parse_answer('{"final_answer": "it says hello"}') == "it says hello"
    # cut off by max_tokens: the part produced is still the answer
    assert parse_answer('{"final_answer": "it says \\"hel') == 'it says "hel'


def test_a_repeated_call_is_recognised() -> None:
    from az_local.actions import answer_note, repeats_a_call

    call = ToolCall(name="filesystem.read", arguments={"path": "a.txt"})
    msgs = [
        Message(role="user", content="What does a.txt say?"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content="hello", tool_call_id=call.id),
    ]
    assert repeats_a_call(msgs, ToolCall(name="filesystem.read", arguments={"path": "a.txt"}))
    assert not repeats_a_call(msgs, ToolCall(name="filesystem.read", arguments={"path": "b.txt"}))
    assert answer_note(msgs).endswith("What does a.txt say?")


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
