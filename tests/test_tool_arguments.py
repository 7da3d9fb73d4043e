"""Tool arguments against the whole JSON Schema of the tool (az_os.tools.validate_arguments)."""

from __future__ import annotations

import pytest
from az_os.errors import ToolArgumentsError
from az_os.tools import validate_arguments
from az_os.types import ToolSpec

SHELL = ToolSpec(
    name="shell.execute",
    description="Run a command.",
    input_schema={
        "type": "object",
        "properties": {
            "command": {"type": "string", "minLength": 1},
            "timeout": {"type": "number", "minimum": 1, "maximum": 600},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
)

NESTED = ToolSpec(
    name="notes.write",
    description="Write notes.",
    input_schema={
        "type": "object",
        "properties": {
            "notes": {
                "type": "array",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                        "pinned": {"type": "boolean", "default": False},
                    },
                    "required": ["title"],
                    "additionalProperties": False,
                },
            },
            "when": {"type": "string", "format": "date"},
            "mode": {"type": "string", "default": "append"},
        },
        "required": ["notes"],
    },
)


@pytest.mark.parametrize(
    ("spec", "arguments", "message"),
    [
        (
            SHELL,
            {"command": "env", "env": {"X": 5}},
            "argument 'env.X' must be string, got integer 5",
        ),
        (SHELL, {}, "missing required argument 'command'"),
        (
            SHELL,
            {"command": "ls", "cwd": "/"},
            "unknown argument 'cwd' (expected one of: command, env, timeout)",
        ),
        (
            SHELL,
            {"command": "ls", "timeout": 0},
            "argument 'timeout' must be bigger than or equal to 1",
        ),
        (
            SHELL,
            {"command": "ls", "timeout": True},
            "argument 'timeout' must be number, got boolean True",
        ),
        (SHELL, {"command": ""}, "argument 'command' must be longer than or equal to 1 characters"),
        (NESTED, {"notes": [{"title": "a"}, {}]}, "missing required argument 'notes[1].title'"),
        (
            NESTED,
            {"notes": [{"title": "a", "tags": ["a", "c"]}]},
            "argument 'notes[0].tags[1]' must be one of ['a', 'b']",
        ),
        (NESTED, {"notes": [{"title": "t", "colour": 1}]}, "unknown argument 'notes[0].colour'"),
        (
            NESTED,
            {"notes": [{"title": "t"}] * 4},
            "argument 'notes' must contain less than or equal to 3 items",
        ),
        (NESTED, {"notes": [], "when": "yesterday"}, "argument 'when' must be date"),
    ],
)
def test_bad_arguments_name_the_field_path(spec, arguments, message):
    with pytest.raises(ToolArgumentsError) as err:
        validate_arguments(spec, arguments)
    text = str(err.value)
    assert text.startswith(f"{spec.name}: ") and message in text, text
    assert "\n" not in text


def test_defaults_fill_in_nested_and_null_optional_arguments_are_dropped():
    out = validate_arguments(NESTED, {"notes": [{"title": "t"}], "when": None})
    assert out == {"notes": [{"title": "t", "pinned": False}], "mode": "append"}
    assert validate_arguments(SHELL, {"command": "ls", "env": {"X": "5"}})["env"] == {"X": "5"}


def test_arguments_must_be_an_object():
    with pytest.raises(ToolArgumentsError, match="must be a JSON object, got list"):
        validate_arguments(SHELL, ["ls"])


def test_each_schema_is_compiled_once():
    from az_os import tools

    tools._compiled.cache_clear()
    for _ in range(3):
        validate_arguments(SHELL, {"command": "ls"})
        validate_arguments(NESTED, {"notes": []})
    info = tools._compiled.cache_info()
    assert (info.misses, info.hits) == (2, 4)


def test_a_broken_schema_is_not_enforced_but_calls_still_work(caplog):
    spec = ToolSpec(
        name="odd.tool",
        description="x",
        input_schema={"type": "object", "properties": {"a": {"type": "nonsense"}}},
    )
    assert validate_arguments(spec, {"a": 1}) == {"a": 1}
    assert "cannot be compiled" in caplog.text
