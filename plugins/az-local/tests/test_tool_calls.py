"""Grammar-constrained tool calls with the real model: whatever the prompt,
the answer is exactly one valid action (a call that matches the tool's
schema, or a final answer)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from az_local.actions import ANSWER_MAX_CHARS, STRING_MAX_CHARS
from az_os.errors import InvalidRequestError
from az_os.tools import validate_arguments
from az_os.types import Message, ModelRequest, ToolCall, ToolSpec
from conftest import packs_installed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def spec(name: str, props: dict[str, Any], required: list[str], desc: str = "") -> ToolSpec:
    return ToolSpec(
        name=name,
        description=desc or f"The {name} tool.",
        input_schema={"type": "object", "properties": props, "required": required},
    )


TOOL_SETS: dict[str, list[ToolSpec]] = {
    "time_and_math": [
        spec(
            "time.now",
            {"tz": {"type": "string", "enum": ["UTC", "CET", "PST"]}},
            ["tz"],
            "Current time in a time zone.",
        ),
        spec(
            "calculator.add",
            {"a": {"type": "number"}, "b": {"type": "number"}},
            ["a", "b"],
            "Add two numbers.",
        ),
    ],
    "files_and_shell": [
        spec(
            "filesystem.read",
            {"path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
            ["path"],
            "Read a text file.",
        ),
        spec(
            "filesystem.write",
            {
                "path": {"type": "string"},
                "content": {"type": "string"},
                "mode": {"type": "string", "enum": ["overwrite", "append"]},
            },
            ["path", "content", "mode"],
            "Write a text file.",
        ),
        spec(
            "shell.execute",
            {"command": {"type": "string"}, "timeout_s": {"type": "number", "minimum": 0}},
            ["command"],
            "Run a shell command.",
        ),
    ],
    "nested": [
        spec("process.list", {}, [], "List running processes."),
        spec(
            "todo.add",
            {
                "title": {"type": "string", "maxLength": 40},
                "tags": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["home", "work"]},
                    "maxItems": 3,
                },
                "priority": {"type": "integer", "minimum": 1, "maximum": 5},
                "meta": {
                    "type": "object",
                    "properties": {
                        "done": {"type": "boolean"},
                        "due": {"type": ["string", "null"]},
                    },
                    "required": ["done"],
                },
            },
            ["title", "priority", "meta"],
            "Add a to-do item.",
        ),
    ],
}

PROMPTS = [
    "What time is it in Paris?",
    "Add 2 and 40.",
    "Show me what is in README.md",
    "Create a file notes.txt that says hello",
    "List the files in this directory using the shell.",
    "Remind me to buy milk, it is urgent, tag it home.",
    "Which processes are running?",
    "Hello! How are you today?",
    "Tell me a joke.",
    "What is 7 times 6?",
]


def check_value(schema: dict[str, Any], value: Any, where: str) -> None:
    """A strict check of the JSON Schema subset the tools above use."""
    if "enum" in schema:
        assert value in schema["enum"], where
        return
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types
    if types is None:
        return
    kinds = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    assert any(kinds[t](value) for t in types), f"{where}: {value!r} is not {types}"
    if isinstance(value, str):
        assert len(value) <= schema.get("maxLength", STRING_MAX_CHARS), where
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            assert value >= schema["minimum"], where
        if "maximum" in schema:
            assert value <= schema["maximum"], where
    if isinstance(value, list):
        assert len(value) <= schema.get("maxItems", 16), where
        for i, item in enumerate(value):
            check_value(schema.get("items", {}), item, f"{where}[{i}]")
    if isinstance(value, dict):
        check_object(schema, value, where)


def check_object(schema: dict[str, Any], value: dict[str, Any], where: str) -> None:
    props = schema.get("properties", {})
    for key in schema.get("required", []):
        assert key in value, f"{where}: missing required {key!r}"
    extra = set(value) - set(props)
    assert not extra, f"{where}: extra keys {extra}"
    for key, v in value.items():
        check_value(props[key], v, f"{where}.{key}")


def check_response(response: Any, tools: list[ToolSpec], required: bool = False) -> str:
    """Assert the response is one valid action; return "call" or "answer"."""
    by_name = {t.name: t for t in tools}
    msg = response.message
    if msg.tool_calls:
        assert len(msg.tool_calls) == 1
        call = msg.tool_calls[0]
        assert call.name in by_name
        schema = by_name[call.name].input_schema
        check_object(schema, call.arguments, call.name)
        validate_arguments(by_name[call.name], call.arguments)  # the kernel's own check agrees
        assert response.finish_reason == "tool_calls"
        return "call"
    assert not required, "tool_choice=required but the model answered"
    assert isinstance(msg.content, str) and len(msg.content) <= ANSWER_MAX_CHARS
    return "answer"


@pytest.mark.slow
@pytest.mark.parametrize("set_name", list(TOOL_SETS))
def test_every_answer_is_a_valid_action(model: Any, set_name: str) -> None:
    tools = TOOL_SETS[set_name]
    temperatures = itertools.cycle([0.2, 0.7, 1.0])
    kinds = []
    for prompt in PROMPTS[::2] if set_name != "files_and_shell" else PROMPTS[1::2]:
        req = ModelRequest(
            messages=[
                Message(role="system", content="You are a helpful agent."),
                Message(role="user", content=prompt),
            ],
            tools=tools,
            max_tokens=1024,
            temperature=next(temperatures),
        )
        r = model.complete(req)
        kinds.append(check_response(r, tools))
        assert r.usage.prompt_tokens > 50 and r.usage.completion_tokens > 5
    assert "call" in kinds  # the format is understood, not only final answers


@pytest.mark.slow
def test_required_tool_choice_always_calls_a_tool(model: Any) -> None:
    tools = TOOL_SETS["files_and_shell"]
    for i, prompt in enumerate(PROMPTS[:6]):
        req = ModelRequest(
            messages=[Message(role="user", content=prompt)],
            tools=tools,
            tool_choice="required",
            max_tokens=1024,
            temperature=0.3 * i,
        )
        assert check_response(model.complete(req), tools, required=True) == "call"


@pytest.mark.slow
def test_the_required_first_call_is_the_tool_the_task_names(az_home: Any) -> None:
    # on the default model pack (Qwen2.5-Coder-1.5B): greedy decoding under
    # the grammar, no tool-choice calibration. SmolLM2 picks filesystem.list
    # here, which is why the calibration it had was dropped: it did not make
    # SmolLM2 solve tasks (0 of 5) and cost seconds per first turn.
    if not packs_installed():
        pytest.skip("no model pack installed")
    from az_os.plugins import get_host

    model = get_host().default_model(None)
    tools = [
        spec(
            "filesystem.list", {"path": {"type": "string", "default": "."}}, [], "List a directory."
        ),
        spec("filesystem.read", {"path": {"type": "string"}}, ["path"], "Read a text file."),
        spec(
            "filesystem.write",
            {"path": {"type": "string"}, "content": {"type": "string"}},
            ["path", "content"],
            "Write a text file.",
        ),
        spec("shell.execute", {"command": {"type": "string"}}, ["command"], "Run a shell command."),
    ]
    req = ModelRequest(
        messages=[Message(role="user", content="Write the text 'hi' to a file named out.txt.")],
        tools=tools,
        tool_choice="required",
        max_tokens=256,
        temperature=0,
    )
    r = model.complete(req)
    assert r.message.tool_calls[0].name == "filesystem.write"
    assert check_response(r, tools, required=True) == "call"


def test_a_repeated_call_becomes_a_final_answer(model: Any) -> None:
    tools = TOOL_SETS["files_and_shell"][:1]
    call = ToolCall(name="filesystem.read", arguments={"path": "notes.txt"})
    msgs = [
        Message(role="user", content="What is the secret word in notes.txt?"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content="The secret word is banana.", tool_call_id=call.id),
    ]
    for _ in range(3):
        r = model.complete(
            ModelRequest(messages=msgs, tools=tools, max_tokens=256, temperature=0.2)
        )
        assert not r.message.tool_calls or r.message.tool_calls[0].arguments != call.arguments


def test_after_a_failed_call_the_model_calls_a_tool_instead_of_answering(model: Any) -> None:
    from az_local.model import call_after_failure
    from az_os.tools import TOOL_ERROR_PREFIX

    tools = TOOL_SETS["files_and_shell"]
    call = ToolCall(name="filesystem.write", arguments={"path": "todo.txt", "content": "x"})
    error = f"{TOOL_ERROR_PREFIX}filesystem.write: 'todo.txt' exists and this task has not read it"
    msgs = [
        Message(role="user", content="Append the line 'x' to todo.txt."),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content=error, tool_call_id=call.id),
    ]
    for temperature in (0.2, 0.7, 1.0):
        req = ModelRequest(messages=msgs, tools=tools, max_tokens=256, temperature=temperature)
        r = model.complete(req)
        # a new call, or (when it repeats the failed one) the answer it is then asked for
        assert r.message.tool_calls or r.message.content
        if r.message.tool_calls:
            assert check_response(r, tools, required=True) == "call"
    # only a failure forces a call: after a result, or when told not to call, nothing changes
    ok = [*msgs[:2], Message(role="tool", content="done", tool_call_id=call.id)]
    assert call_after_failure(ModelRequest(messages=ok, tools=tools)).tool_choice == "auto"
    none = ModelRequest(messages=msgs, tools=tools, tool_choice="none")
    assert call_after_failure(none).tool_choice == "none"
    forced = call_after_failure(ModelRequest(messages=msgs, tools=tools))
    assert forced.tool_choice == "required" and forced.messages == msgs


def test_a_repeated_failed_call_is_sampled_again_before_giving_up_on_tools(model: Any) -> None:
    """Greedy decoding makes the same failed call again; asked for an answer
    instead, the model gives up on the task. Sampled hotter, it finds
    another call in some tries: never the failed one again."""
    from az_os.tools import TOOL_ERROR_PREFIX

    tools = TOOL_SETS["files_and_shell"]
    call = ToolCall(
        name="filesystem.write",
        arguments={"path": "todo.txt", "content": "x", "mode": "overwrite"},
    )
    error = f"{TOOL_ERROR_PREFIX}filesystem.write: 'todo.txt' exists and this task has not read it"
    msgs = [
        Message(role="user", content="Append the line 'x' to todo.txt."),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content=error, tool_call_id=call.id),
    ]
    # the caller's own "required" gets no retry: greedy repeats, then answers
    told = model.complete(
        ModelRequest(messages=msgs, tools=tools, tool_choice="required", max_tokens=256)
    )
    if told.message.tool_calls:
        pytest.skip("this model does not repeat the failed call when greedy")
    new_calls = 0
    for _ in range(10):
        r = model.complete(ModelRequest(messages=msgs, tools=tools, max_tokens=256, temperature=0))
        for c in r.message.tool_calls:
            assert (c.name, c.arguments) != (call.name, call.arguments)
        new_calls += bool(r.message.tool_calls)
    assert new_calls >= 1


def test_a_tool_result_turn_continues_validly(model: Any) -> None:
    tools = TOOL_SETS["time_and_math"]
    call = ToolCall(name="calculator.add", arguments={"a": 2, "b": 40})
    req = ModelRequest(
        messages=[
            Message(role="user", content="Add 2 and 40."),
            Message(role="assistant", content="I add them.", tool_calls=[call]),
            Message(role="tool", content="42", tool_call_id=call.id, name="calculator.add"),
        ],
        tools=tools,
        max_tokens=1024,
        temperature=0.2,
    )
    check_response(model.complete(req), tools)


def test_tool_choice_none_gives_plain_text(model: Any) -> None:
    r = model.complete(
        ModelRequest(
            messages=[Message(role="user", content="Say hi.")],
            tools=TOOL_SETS["nested"],
            tool_choice="none",
            max_tokens=12,
            temperature=0,
        )
    )
    assert not r.message.tool_calls and r.message.content
    assert not r.message.content.lstrip().startswith('{"thought"')


def test_cut_off_action_is_a_clear_error(model: Any) -> None:
    req = ModelRequest(
        messages=[Message(role="user", content="Add 2 and 40.")],
        tools=TOOL_SETS["time_and_math"],
        max_tokens=6,
    )
    with pytest.raises(InvalidRequestError, match="cut off at max_tokens=6"):
        model.complete(req)


def test_stream_with_tools_ends_with_the_call(model: Any) -> None:
    tools = TOOL_SETS["files_and_shell"]
    req = ModelRequest(
        messages=[Message(role="user", content="Read README.md")],
        tools=tools,
        tool_choice="required",
        max_tokens=1024,
        temperature=0,
    )
    deltas = list(model.stream(req))
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens > 0
    assert deltas[-1].tool_calls and deltas[-1].tool_calls[0].name in {t.name for t in tools}


# -- random tool schemas ------------------------------------------------------
names = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
leaf = st.one_of(
    st.just({"type": "string"}),
    st.builds(lambda n: {"type": "string", "maxLength": n}, st.integers(1, 30)),
    st.just({"type": "integer"}),
    st.builds(
        lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
        st.integers(-5, 5),
        st.integers(0, 20),
    ),
    st.just({"type": "number", "minimum": 0}),
    st.just({"type": "boolean"}),
    st.builds(
        lambda vals: {"type": "string", "enum": vals},
        st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=1, max_size=4, unique=True),
    ),
    st.just({"type": ["string", "null"]}),
)
prop_schema = st.one_of(
    leaf,
    st.builds(
        lambda item, n: {"type": "array", "items": item, "maxItems": n}, leaf, st.integers(0, 4)
    ),
    st.builds(
        lambda props: {"type": "object", "properties": props, "required": list(props)[:1]},
        st.dictionaries(names, leaf, max_size=3),
    ),
)


@st.composite
def tool_sets(draw: Any) -> list[ToolSpec]:
    count = draw(st.integers(1, 3))
    tools = []
    for i in range(count):
        props = draw(st.dictionaries(names, prop_schema, max_size=4))
        required = [k for k in props if draw(st.booleans())]
        tools.append(spec(f"tool{i}.{draw(names)}", props, required))
    return tools


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tools=tool_sets(), prompt=st.sampled_from(PROMPTS), temperature=st.sampled_from([0.3, 0.7, 1.0])
)
def test_random_tool_schemas_yield_valid_calls(
    model: Any, tools: list[ToolSpec], prompt: str, temperature: float
) -> None:
    req = ModelRequest(
        messages=[Message(role="user", content=prompt)],
        tools=tools,
        tool_choice="required",
        max_tokens=1500,
        temperature=temperature,
    )
    check_response(model.complete(req), tools, required=True)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(tools=tool_sets(), choice=st.sampled_from(["auto", "required"]))
def test_llama_cpp_accepts_every_generated_grammar(
    model: Any, tools: list[ToolSpec], choice: str
) -> None:
    from az_local.model import _grammar

    req = ModelRequest(messages=[Message(role="user", content="x")], tools=tools,
                       tool_choice=choice)  # fmt: skip
    assert _grammar(req, model.load()) is not None  # raises if llama.cpp rejects it


def test_refs_and_unusual_schemas_compile_and_decode(model: Any) -> None:
    tools = [
        ToolSpec(name="db.query", description="Query a database.", input_schema={
            "type": "object",
            "$defs": {"filter": {"type": "object",
                                 "properties": {"column": {"type": "string"},
                                                "op": {"enum": ["=", "<", ">"]},
                                                "value": {"anyOf": [{"type": "number"},
                                                                    {"type": "string"}]}},
                                 "required": ["column", "op", "value"]}},
            "properties": {"table": {"type": "string", "pattern": "^[a-z]+$"},
                           "where": {"type": "array", "items": {"$ref": "#/$defs/filter"},
                                     "maxItems": 2},
                           "limit": {"type": "integer", "exclusiveMinimum": 0}},
            "required": ["table", "where"],
        }),
        ToolSpec(name="weird \"name\"", description="", input_schema={"type": "object"}),
    ]  # fmt: skip
    for temperature in (0.0, 0.8):
        req = ModelRequest(messages=[Message(role="user", content="Find users older than 30")],
                           tools=tools, tool_choice="required", max_tokens=1024,
                           temperature=temperature)  # fmt: skip
        r = model.complete(req)
        call = r.message.tool_calls[0]
        assert call.name in {"db.query", 'weird "name"'}
        if call.name == "db.query":
            assert set(call.arguments) <= {"table", "where", "limit"}
            assert {"table", "where"} <= set(call.arguments)
            for f in call.arguments["where"]:
                assert set(f) == {"column", "op", "value"} and f["op"] in ("=", "<", ">")
            assert call.arguments.get("limit", 1) >= 1
        else:
            assert call.arguments == {}
