"""Tool calls for a model that has no native tool calling: JSON actions
whose shape is enforced by a grammar while decoding.

When tools are offered, the model must answer with exactly one JSON object,
one of::

    {"tool": "<one offered tool name>", "arguments": {...}}
    {"final_answer": str}

(no free-text "thought" key: a 135M-parameter model filled it with
repetitive text that cost tokens and time and that it then copied).

where ``arguments`` follows that tool's own ``input_schema`` (required keys
present, no other keys, enum values, numbers as numbers). :func:`action_schema`
builds the JSON Schema of that union and :func:`action_gbnf` turns it into
GBNF grammar text with this module's own converter (:class:`_Grammar`, for
the subset :func:`bounded_schema` leaves); llama-cpp-python compiles that
text, so the sampler can only pick tokens that keep the output inside the
union: invalid output cannot be produced, only cut off (by ``max_tokens``),
which :func:`parse_action` reports as an error.

Every free-form string gets a ``maxLength`` (in characters) so that a tiny
model cannot ramble until ``max_tokens``: :data:`ANSWER_MAX_CHARS`,
:data:`STRING_MAX_CHARS`; arrays get at most :data:`ARRAY_MAX_ITEMS` items.

This module is pure Python (no llama_cpp import) so it is cheap to test.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from az_os.errors import InvalidRequestError
from az_os.types import Message, ToolCall, ToolSpec

#: Longest "final_answer" (characters).
ANSWER_MAX_CHARS = 1500
#: Longest string argument whose schema sets no maxLength (characters).
STRING_MAX_CHARS = 200
#: Most items in an array argument whose schema sets no maxItems.
ARRAY_MAX_ITEMS = 16
#: Integer ranges up to this many values are enumerated in the grammar, so
#: ``minimum``/``maximum`` hold too (llama-cpp-python's converter ignores them).
INT_ENUM_MAX = 256


def bounded_schema(schema: Any) -> dict[str, Any]:
    """A copy of a JSON Schema that the grammar can enforce completely.

    Rules (applied recursively):

    * objects list their ``properties`` and get ``additionalProperties:
      false`` (no extra keys); a ``required`` key missing from
      ``properties`` becomes a bounded string;
    * strings without ``maxLength``/``enum``/``const``/``pattern`` get
      ``maxLength`` = :data:`STRING_MAX_CHARS`;
    * arrays get ``items`` (a bounded string when absent) and ``maxItems``;
    * integers with ``minimum`` and ``maximum`` at most :data:`INT_ENUM_MAX`
      values apart become an ``enum`` of those values;
    * ``type: [a, b]`` becomes ``anyOf`` of the bounded single-type schemas;
    * an empty schema (any value) becomes a bounded string.
    """
    if not isinstance(schema, dict):
        return {"type": "string", "maxLength": STRING_MAX_CHARS}
    s = copy.deepcopy(schema)
    for key in ("$defs", "definitions"):
        if isinstance(s.get(key), dict):
            s[key] = {k: bounded_schema(v) for k, v in s[key].items()}
    if "$ref" in s or "const" in s or "enum" in s:
        return s
    for key in ("anyOf", "oneOf"):
        if isinstance(s.get(key), list):
            s[key] = [bounded_schema(v) for v in s[key]]
            return s
    t = s.get("type")
    if isinstance(t, list):
        base = {k: v for k, v in s.items() if k != "type"}
        return {"anyOf": [bounded_schema({**base, "type": one}) for one in t]}
    if t is None:
        if "properties" in s:
            t = s["type"] = "object"
        elif "items" in s:
            t = s["type"] = "array"
        else:
            return {"type": "string", "maxLength": STRING_MAX_CHARS}
    if t == "object":
        props = s.get("properties")
        props = dict(props) if isinstance(props, dict) else {}
        required = [r for r in s.get("required", []) or [] if isinstance(r, str)]
        for r in required:
            props.setdefault(r, {"type": "string"})
        s["properties"] = {k: bounded_schema(v) for k, v in props.items()}
        s["required"] = required
        s["additionalProperties"] = False
        s.pop("patternProperties", None)
    elif t == "string":
        s.setdefault("maxLength", max(STRING_MAX_CHARS, int(s.get("minLength", 0) or 0)))
    elif t == "array":
        items = s.get("items")
        if isinstance(items, list):
            s["items"] = [bounded_schema(i) for i in items]
        else:
            s["items"] = bounded_schema(items if isinstance(items, dict) and items else None)
            s.setdefault("maxItems", max(ARRAY_MAX_ITEMS, int(s.get("minItems", 0))))
    elif t == "integer":
        lo, hi = s.get("minimum"), s.get("maximum")
        if isinstance(s.get("exclusiveMinimum"), int | float):
            lo = int(s["exclusiveMinimum"]) + 1
        if isinstance(s.get("exclusiveMaximum"), int | float):
            hi = int(s["exclusiveMaximum"]) - 1
        if isinstance(lo, int | float) and isinstance(hi, int | float):
            lo_i, hi_i = int(-(-lo // 1)), int(hi // 1)
            if 0 <= hi_i - lo_i < INT_ENUM_MAX:
                return {"enum": list(range(lo_i, hi_i + 1))}
    return s


def inline_refs(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """``schema`` with every local ``$ref`` (``#/$defs/...``,
    ``#/definitions/...``) replaced by the schema it points to, so each part
    of a tool's arguments can be turned into grammar on its own. Recursive
    references are unrolled 6 levels deep; below that the value must be
    ``null`` (a grammar cannot recurse through JSON Schema references)."""
    root = schema if root is None else root
    if isinstance(schema, list):
        return [inline_refs(v, root, depth) for v in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if depth >= 6 or not ref.startswith("#/"):
            return {"type": "null"}
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return inline_refs({**node, **rest} if isinstance(node, dict) else rest, root, depth + 1)
    return {
        k: inline_refs(v, root, depth) if k not in ("$defs", "definitions") else v
        for k, v in schema.items()
        if k not in ("$defs", "definitions")
    }


def action_schema(tools: list[ToolSpec], tool_choice: str = "auto") -> dict[str, Any]:
    """The JSON Schema of one action over ``tools`` (see module docstring).

    With ``tool_choice == "required"`` only the tool branches are allowed.
    Raises :class:`ValueError` when there are no tools.
    """
    if not tools:
        raise ValueError("action_schema needs at least one tool")
    branches: list[dict[str, Any]] = []
    for spec in tools:
        branches.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": spec.name},
                    "arguments": bounded_schema(
                        inline_refs(spec.input_schema or {"type": "object", "properties": {}})
                    ),
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    if tool_choice != "required":
        branches.append(answer_schema())
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def answer_schema() -> dict[str, Any]:
    """The JSON Schema of a final answer alone: ``{"final_answer": str}``.

    Used when no tools are offered but the conversation already holds JSON
    actions: a small model imitates the shape of its earlier turns, so
    without this grammar it would answer with another tool-call object."""
    return {
        "type": "object",
        "properties": {"final_answer": {"type": "string", "maxLength": ANSWER_MAX_CHARS}},
        "required": ["final_answer"],
        "additionalProperties": False,
    }


#: One JSON string character: no raw control characters (``json.loads`` refuses
#: them) and only short escapes (a ``\\uXXXX`` escape would cost many tokens
#: for one character; non-ASCII text is written as plain UTF-8).
_CHAR = r'[^"\\\x7F\x00-\x1F] | [\\] ["\\/bfnrt]'
_DIGITS = "([0-9] | [1-9] [0-9]{1,15})"


def _lit(text: str) -> str:
    """A GBNF string literal matching ``text`` exactly."""
    esc = text.replace("\\", "\\\\").replace('"', '\\"')
    esc = esc.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{esc}"'


class _Grammar:
    """A JSON-Schema-to-GBNF converter for the subset :func:`bounded_schema`
    produces (objects, strings, integers, numbers, booleans, null, arrays,
    enum/const, anyOf/oneOf, local ``$ref``). Repetition uses GBNF's
    ``x{m,n}`` form, so long strings stay small grammars. The JSON it
    accepts is compact: at most one space after ``:`` and ``,``."""

    def __init__(self, root_schema: dict[str, Any]) -> None:
        self.root_schema = root_schema
        self.rules: dict[str, str] = {"ws": '" "?', "char": _CHAR}
        self._by_body: dict[str, str] = {}

    def add(self, base: str, body: str) -> str:
        if body in self._by_body:
            return self._by_body[body]
        name = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-").lower() or "r"
        if name in self.rules or name == "root":
            i = 1
            while f"{name}-{i}" in self.rules:
                i += 1
            name = f"{name}-{i}"
        self.rules[name] = body
        self._by_body[body] = name
        return name

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.root_schema
        if not ref.startswith("#/"):
            return {}
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}

    def visit(self, schema: Any, name: str, depth: int = 0) -> str:
        """A GBNF expression (usually a rule name) matching ``schema``."""
        if not isinstance(schema, dict) or depth > 12:
            schema = {"type": "string", "maxLength": STRING_MAX_CHARS}
        if "$ref" in schema:
            return self.visit(bounded_schema(self._resolve(schema["$ref"])), name, depth + 1)
        if "const" in schema:
            return _lit(json.dumps(schema["const"], ensure_ascii=False))
        if "enum" in schema:
            alts = " | ".join(_lit(json.dumps(v, ensure_ascii=False)) for v in schema["enum"])
            return self.add(name, alts or '"null"')
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                branches = [
                    self.visit(sub, f"{name}-{i}", depth + 1) for i, sub in enumerate(schema[key])
                ]
                return self.add(name, " | ".join(branches))
        t = schema.get("type")
        if t == "object":
            return self._object(schema, name, depth)
        if t == "array":
            return self._array(schema, name, depth)
        if t == "integer":
            lo = schema.get("minimum", schema.get("exclusiveMinimum"))
            if _non_negative(schema) and (lo > 0 or "exclusiveMinimum" in schema):
                return self.add("positive", "[1-9] [0-9]{0,15}")
            sign = "" if _non_negative(schema) else '"-"? '
            return self.add("integer" if sign else "natural", f"{sign}{_DIGITS}")
        if t == "number":
            sign = "" if _non_negative(schema) else '"-"? '
            return self.add(
                "number" if sign else "non-negative-number",
                f'{sign}{_DIGITS} ("." [0-9]{{1,15}})? ([eE] [-+]? [0-9]{{1,3}})?',
            )
        if t == "boolean":
            return self.add("boolean", '"true" | "false"')
        if t == "null":
            return '"null"'
        lo = int(schema.get("minLength", 0) or 0)
        hi = int(schema.get("maxLength", STRING_MAX_CHARS))
        hi = max(hi, lo)
        return self.add(f"string-{lo}-{hi}", f'"\\"" char{{{lo},{hi}}} "\\""')

    def _object(self, schema: dict[str, Any], name: str, depth: int) -> str:
        props: dict[str, Any] = schema.get("properties") or {}
        required = [k for k in props if k in set(schema.get("required") or [])]
        optional = [k for k in props if k not in required]
        kv = {
            k: f'{_lit(json.dumps(k, ensure_ascii=False))} ws ":" ws '
            + self.visit(v, f"{name}-{k}", depth + 1)
            for k, v in props.items()
        }
        body = '"{" ws '
        body += ' "," ws '.join(kv[k] for k in required)
        if optional:
            if required:
                body += " " + " ".join(f'( "," ws {kv[k]} )?' for k in optional)
            else:
                alts = []
                for i, k in enumerate(optional):
                    rest = " ".join(f'( "," ws {kv[o]} )?' for o in optional[i + 1 :])
                    alts.append(f"{kv[k]} {rest}".strip())
                body += "( " + " | ".join(f"( {a} )" for a in alts) + " )?"
        body += ' ws "}"'
        return self.add(name, body)

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> str:
        items = schema.get("items")
        if isinstance(items, list):
            parts = [self.visit(it, f"{name}-{i}", depth + 1) for i, it in enumerate(items)]
            return self.add(name, '"[" ws ' + ' "," ws '.join(parts) + ' ws "]"')
        item = self.visit(items, f"{name}-item", depth + 1)
        lo = int(schema.get("minItems", 0) or 0)
        hi = int(schema.get("maxItems", max(ARRAY_MAX_ITEMS, lo)))
        hi = max(hi, lo)
        if hi == 0:
            return self.add(name, '"[" ws "]"')
        more = f'( "," ws {item} ){{{max(lo - 1, 0)},{hi - 1}}}'
        seq = f"{item} {more}"
        return self.add(name, '"[" ws ' + (seq if lo else f"( {seq} )?") + ' ws "]"')

    def text(self, root: str) -> str:
        lines = [f"root ::= {root}"]
        lines += [f"{k} ::= {v}" for k, v in self.rules.items()]
        return "\n".join(lines) + "\n"


def _non_negative(schema: dict[str, Any]) -> bool:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    return isinstance(lo, int | float) and not isinstance(lo, bool) and lo >= 0


def schema_gbnf(schema: dict[str, Any]) -> str:
    """GBNF grammar text accepting exactly the JSON values of ``schema``
    after :func:`bounded_schema` (see :class:`_Grammar` for the subset)."""
    g = _Grammar(schema)
    return g.text(g.visit(bounded_schema(schema), "value"))


def action_gbnf(tools: list[ToolSpec], tool_choice: str = "auto") -> str:
    """The GBNF grammar text for :func:`action_schema`: keys in the order
    tool, arguments (or final_answer alone)."""
    return schema_gbnf(action_schema(tools, tool_choice))


def answer_gbnf() -> str:
    """The GBNF grammar text for :func:`answer_schema`."""
    return schema_gbnf(answer_schema())


def example_arguments(schema: Any) -> dict[str, Any]:
    """Argument values to show in a tool's example call, drawn from its
    schema: each required property, and each optional one that has
    ``examples``, with its first ``examples`` entry, else its ``default``,
    else a neutral value of its type (``""``, ``0``, ``false``, ``[]``,
    ``{}``). Never a placeholder a model could copy as a real value."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    out: dict[str, Any] = {}
    for name, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        examples = prop.get("examples")
        has_example = isinstance(examples, list) and bool(examples)
        if name not in required and not has_example:
            continue
        if has_example:
            out[name] = examples[0]
        elif "default" in prop:
            out[name] = prop["default"]
        elif "enum" in prop and prop["enum"]:
            out[name] = prop["enum"][0]
        elif "const" in prop:
            out[name] = prop["const"]
        else:
            kind = prop.get("type")
            kind = kind[0] if isinstance(kind, list) and kind else kind
            out[name] = {
                "integer": 0,
                "number": 0,
                "boolean": False,
                "array": [],
                "object": {},
            }.get(str(kind), "")
    return out


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    m = re.match(r"(.+?[.!?])(\s|$)", line)
    return m.group(1) if m else line


def tools_prompt(tools: list[ToolSpec], tool_choice: str = "auto") -> str:
    """The instructions added to the system prompt when tools are offered:
    the reply format, then per tool its first sentence of description, its
    arguments (name: type, "optional" when not required) and one example
    call with values from :func:`example_arguments`.

    Kept short on purpose: small models follow a few concrete examples
    better than long prose. The text does not depend on ``tool_choice``
    (the grammar enforces it), so the system prompt stays the same from turn
    to turn and the model's KV cache of it is reused."""
    lines = ["Reply with one JSON object and nothing else."]
    lines.append('To call a tool: {"tool": "<tool name>", "arguments": {...}}')
    lines.append('When the task is done, or the results above answer it: {"final_answer": "..."}')
    lines.append("Tools:")
    for spec in tools:
        schema = spec.input_schema or {}
        props = schema.get("properties", {}) or {}
        required = set(schema.get("required", []) or [])
        args = []
        for name, prop in props.items():
            prop = prop if isinstance(prop, dict) else {}
            kind = prop.get("type", "any")
            if "enum" in prop:
                kind = "|".join(json.dumps(v) for v in prop["enum"])
            args.append(f"{name}: {kind}{'' if name in required else ' (optional)'}")
        example = json.dumps({"tool": spec.name, "arguments": example_arguments(schema)})
        lines.append(f"- {spec.name}({', '.join(args)}): {_first_sentence(spec.description)}")
        lines.append(f"  Example: {example}")
    return "\n".join(lines)


def parse_action(
    text: str, tools: list[ToolSpec], finish_reason: str | None, model_id: str, max_tokens: int
) -> Message:
    """Turn the model's constrained output into an assistant :class:`Message`.

    A tool call becomes ``tool_calls=[ToolCall(name, arguments)]``; a final
    answer becomes ``content``. Raises
    :class:`~az_os.errors.InvalidRequestError` when the output was cut off by
    ``max_tokens`` (``finish_reason == "length"``) before the JSON object was
    complete, or (which the grammar rules out) is not one of the shapes.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        if finish_reason == "length":
            raise InvalidRequestError(
                f"{model_id}: the JSON action was cut off at max_tokens={max_tokens} "
                "before it was complete; allow more tokens",
                model=model_id,
            ) from None
        raise InvalidRequestError(
            f"{model_id}: constrained output is not JSON: {text[:80]!r}", model=model_id
        ) from None
    names = {t.name for t in tools}
    if isinstance(data, dict) and data.get("tool") in names:
        args = data.get("arguments")
        return Message(
            role="assistant",
            content=str(data.get("thought", "")),
            tool_calls=[
                ToolCall(name=data["tool"], arguments=args if isinstance(args, dict) else {})
            ],
        )
    if isinstance(data, dict) and isinstance(data.get("final_answer"), str):
        return Message(role="assistant", content=data["final_answer"])
    raise InvalidRequestError(
        f"{model_id}: constrained output is not an action: {text[:80]!r}", model=model_id
    )


def parse_answer(text: str) -> str:
    """The answer text from output decoded with :func:`answer_schema`.

    Output cut off by ``max_tokens`` is not valid JSON; the answer is then
    the part of the string that was produced (a cut answer is still an
    answer, unlike a cut tool call)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        m = re.match(r'\s*\{\s*"final_answer"\s*:\s*"(.*)', text, re.S)
        if not m:
            return text
        partial = m.group(1)
        for cut in range(len(partial), -1, -1):
            try:
                return str(json.loads(f'"{partial[:cut]}"'))
            except json.JSONDecodeError:
                continue
        return partial
    if isinstance(data, dict) and isinstance(data.get("final_answer"), str):
        return data["final_answer"]
    return text


def answers_in_json(messages: list[Message]) -> bool:
    """True when the conversation holds tool calls: the model has been
    answering in JSON actions, so even a reply without tools is decoded as
    ``{"final_answer": ...}`` (see :func:`answer_schema`)."""
    return any(m.role == "assistant" and m.tool_calls for m in messages)


def _task_text(messages: list[Message]) -> str:
    return next((m.content or "" for m in messages if m.role == "user"), "")


def answer_note(messages: list[Message]) -> str:
    """The user note asking for the final answer now, restating the task
    (the first user message): a small model answers the question it just
    read, not one 1,000 tokens up."""
    return f"Answer from the results above: {_task_text(messages)}"


def repeats_a_call(messages: list[Message], call: ToolCall) -> bool:
    """True when ``call`` (tool name and arguments) was already made in
    ``messages``: its result is already in the conversation."""
    return any(
        c.name == call.name and c.arguments == call.arguments
        for m in messages
        if m.role == "assistant"
        for c in m.tool_calls
    )


#: Observation values shown in full up to this many characters per line.
_VALUE_MAX_CHARS = 400
#: A rendered tool result is cut after this many characters (a note says how
#: many more there were): a long process list made one prompt 13,000 tokens,
#: minutes of prompt evaluation for a model that cannot use that much text.
OBSERVATION_MAX_CHARS = 2000


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_observation(content: str) -> str:
    """A tool result as short ``key: value`` lines instead of raw JSON.

    The engine sends a result as JSON text; a small model reads and copies
    from plain lines far more reliably than from nested JSON. Rules: keys
    whose value is null, false or empty are left out; a multi-line string
    is shown on the lines after its key; lists come after single values,
    and a list of objects becomes one ``- k: v, k: v`` line per item; anything that is not a JSON object is
    shown unchanged. The text is cut at :data:`OBSERVATION_MAX_CHARS`."""
    text = _render(content)
    if len(text) > OBSERVATION_MAX_CHARS:
        more = len(text) - OBSERVATION_MAX_CHARS
        text = text[:OBSERVATION_MAX_CHARS] + f"\n[... {more} more characters not shown]"
    return text


def _render(content: str) -> str:
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return content
    if not isinstance(data, dict):
        return content
    lines: list[str] = []
    # single values (counts, exit codes, stdout) first, lists after them
    items = sorted(data.items(), key=lambda kv: isinstance(kv[1], list))
    for key, value in items:
        if value is None or value is False or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, str) and "\n" in value.rstrip("\n"):
            lines.append(f"{key}:")
            lines.append(value.rstrip("\n"))
        elif isinstance(value, list):
            lines.append(f"{key}:")
            for item in value:
                if isinstance(item, dict):
                    parts = [f"{k}: {_scalar(v)}" for k, v in item.items() if v is not None]
                    lines.append("- " + ", ".join(parts)[:_VALUE_MAX_CHARS])
                else:
                    lines.append(f"- {_scalar(item)[:_VALUE_MAX_CHARS]}")
        else:
            text = _scalar(value)
            if isinstance(value, str):
                text = text.rstrip("\n")
            lines.append(
                f"{key}: {text[:_VALUE_MAX_CHARS] if not isinstance(value, str) else text}"
            )
    return "\n".join(lines)


def _strip_tool_lines(system: str, names: set[str], all_tools: bool) -> str:
    """The system text without lines listing one of ``names`` (``- name: ...``)
    (with ``all_tools``: every ``- ...`` line of a ``Tools:`` block) and
    without a ``Tools:`` heading left with nothing under it: the tools are
    listed again, shorter and with example calls, by :func:`tools_prompt`
    (or, with no tools offered, there is nothing to call)."""
    kept: list[str] = []
    in_block = False
    for line in system.splitlines():
        if line.strip() == "Tools:":
            in_block = True
        elif not line.startswith("- "):
            in_block = False
        if any(line.startswith(f"- {n}: ") for n in names):
            continue
        if all_tools and in_block and line.startswith("- "):
            continue
        kept.append(line)
    out: list[str] = []
    for i, line in enumerate(kept):
        nxt = kept[i + 1] if i + 1 < len(kept) else ""
        if line.strip() == "Tools:" and not nxt.startswith("- "):
            continue
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


#: Where the task-specific part of the engine's system prompt starts.
WORKSPACE_MARK = "\nWorkspace ("


def prefix_text(messages: list[dict[str, str]]) -> str:
    """The part of the system message that does not depend on the task (the
    text before the workspace line), or ``""`` when there is no system
    message: a KV cache of it can be saved once and reused by every task."""
    if not messages or messages[0]["role"] != "system":
        return ""
    content = messages[0]["content"]
    at = content.find(WORKSPACE_MARK)
    return content if at < 0 else content[:at]


def chat_messages(
    messages: list[Message], tools: list[ToolSpec], tool_choice: str
) -> list[dict[str, str]]:
    """The conversation as plain ``{"role", "content"}`` dicts any chat
    template accepts (only system/user/assistant roles).

    Assistant tool calls are written back in the JSON shape the grammar
    produces (``{"tool": ..., "arguments": ...}``); ``tool`` results become
    user messages (``Result of <tool>:`` and the result as
    :func:`render_observation` lines). With tools, the system message's own
    list of those tools is replaced by :func:`tools_prompt` (also when
    ``tool_choice`` is ``"none"`` after tool calls, so the prompt's prefix
    does not change). With no tools
    offered after tool calls (:func:`answers_in_json`), the system message
    says to answer as ``{"final_answer": ...}``.
    """
    names: dict[str, str] = {}
    out: list[dict[str, str]] = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            names.update({c.id: c.name for c in m.tool_calls})
            content = "\n".join(
                json.dumps({"tool": c.name, "arguments": c.arguments}, ensure_ascii=False)
                for c in m.tool_calls
            )
            out.append({"role": "assistant", "content": content})
        elif m.role == "tool":
            name = names.get(m.tool_call_id or "") or m.name or "the tool"
            body = render_observation(m.content or "")
            out.append({"role": "user", "content": f"Result of {name}:\n{body}"})
        elif m.role == "assistant" and answers_in_json(messages):
            out.append(
                {"role": "assistant", "content": json.dumps({"final_answer": m.content or ""})}
            )
        else:
            out.append({"role": m.role, "content": m.content or ""})
    called = set(names.values())
    # the tools stay in the prompt when tool_choice is "none" after tool calls
    # (a forced final answer): an unchanged system prompt keeps the KV cache
    offered = bool(tools) and (tool_choice != "none" or bool(called))
    if offered:
        extra = tools_prompt(tools, tool_choice)
    elif called:
        extra = 'Reply with one JSON object: {"final_answer": "..."}'
    else:
        extra = ""
    if out and out[0]["role"] == "system":
        base = _strip_tool_lines(
            out[0]["content"], called | {t.name for t in tools}, all_tools=not offered
        )
        # the tool instructions go before the workspace line: what precedes
        # it is the same for every task with these tools (see prefix_text)
        at = base.find(WORKSPACE_MARK)
        if extra and at >= 0:
            content = f"{base[:at].rstrip()}\n\n{extra}\n\n{base[at + 1 :]}"
        else:
            content = f"{base}\n\n{extra}".strip()
        out[0] = {"role": "system", "content": content}
    elif extra:
        out.insert(0, {"role": "system", "content": extra})
    return out
