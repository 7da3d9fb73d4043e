"""The tool contract: what the engine calls when a model asks for a tool.

A plugin registers :class:`Tool` objects through ``az_register_tools``. Each
has a :class:`~az_os.types.ToolSpec` (MCP shape: name, description,
inputSchema) and an async :meth:`Tool.call` that returns a
:class:`~az_os.types.ToolResult`. Tools never raise for an expected failure
(file not found, command failed): they return ``success=False`` with a
one-line ``error`` the model can read.
"""

from __future__ import annotations

import functools
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from az_os.config import AzConfig
from az_os.errors import ToolArgumentsError
from az_os.types import Task, ToolResult, ToolSpec

#: How the ``tool`` message of a failed tool call starts (``ERROR: <error>``,
#: written by the engine): a model provider can tell a failure from a result.
TOOL_ERROR_PREFIX = "ERROR: "

log = logging.getLogger("az.tools")

ApprovalMode = Literal["ask", "auto", "read-only"]


def _default_config() -> AzConfig:
    return AzConfig()


@dataclass
class ToolContext:
    """Where and for whom a tool runs.

    ``workspace`` is the absolute directory the task is confined to;
    ``approval`` is the approval mode in force (the policy itself is applied
    by the kernel before the tool runs); ``config`` is the
    :class:`~az_os.config.AzConfig` in force (``config.tools`` holds the
    output limit and shell timeout; ``config.section(name)`` a plugin's own
    settings). ``task`` is the calling task when the engine runs the tool
    (tools that make model calls charge them to it).
    """

    workspace: Path
    task_id: str | None = None
    approval: ApprovalMode = "ask"
    config: AzConfig = field(default_factory=_default_config)
    task: Task | None = None


class Tool(ABC):
    """A tool the agent can call. Subclasses set ``spec`` and implement ``run``."""

    spec: ToolSpec

    @abstractmethod
    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Do the work synchronously (called in a worker thread by :meth:`call`)."""

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run the tool without blocking the event loop. Async tools (MCP)
        override this instead of :meth:`run`."""
        from az_os.threads import in_thread

        return await in_thread(self.run, arguments, ctx)

    def describe_call(self, arguments: dict[str, Any]) -> str:
        """One line saying exactly what a call would do, shown when asking for approval."""
        import json

        return f"{self.spec.name} {json.dumps(arguments, ensure_ascii=False)}"

    def status(self, config: AzConfig) -> dict[str, Any] | None:
        """How the tool would run here under ``config`` (e.g. the shell's
        sandbox: ``{"sandbox": "bubblewrap", ...}``), shown by ``az tools
        info``; ``None`` when there is nothing to say."""
        return None


def validate_arguments(spec: ToolSpec, arguments: Any) -> dict[str, Any]:
    """Check ``arguments`` against the tool's whole ``input_schema`` (JSON
    Schema, draft 7 unless the schema's ``$schema`` says otherwise: nested
    objects, arrays, formats, min/max, patterns, enums ...).

    The schema is compiled once per distinct schema, on first use, with
    :mod:`fastjsonschema`. A top-level ``null`` for an optional argument
    counts as not given. Returns a copy of the arguments with the schema's
    ``default`` values filled in. Raises
    :class:`~az_os.errors.ToolArgumentsError` with one line naming the
    argument's path (``env.X``, ``items[2].name``) and what was expected::

        shell.execute: argument 'env.X' must be string, got int 5

    A schema that is itself invalid (a broken third-party tool) is not
    enforced beyond "an object"; a warning is logged once.
    """
    if not isinstance(arguments, dict):
        raise ToolArgumentsError(
            f"{spec.name}: arguments must be a JSON object, got {type(arguments).__name__}"
        )
    schema = spec.input_schema or {}
    required = set(schema.get("required") or [])
    out = {k: v for k, v in arguments.items() if v is not None or k in required}
    check = _compiled(json.dumps(schema, sort_keys=True, default=str))
    if check is None:
        return out
    import fastjsonschema

    try:
        checked = check(out)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ToolArgumentsError(f"{spec.name}: {_describe(exc, schema)}") from None
    return dict(checked) if isinstance(checked, dict) else out


@functools.lru_cache(maxsize=512)
def _compiled(schema_json: str) -> Callable[[Any], Any] | None:
    """The validator for one schema (as canonical JSON), or None when the
    schema cannot be compiled."""
    import fastjsonschema

    try:
        return cast(
            "Callable[[Any], Any]",
            fastjsonschema.compile(json.loads(schema_json), use_default=True),
        )
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError) as exc:
        log.warning("tool input schema cannot be compiled, not enforced: %s", exc)
        return None


def _path(parts: Any) -> str:
    """fastjsonschema's ``["data", "env", "X"]`` as ``env.X``; indexes as ``[2]``."""
    out = ""
    for part in list(parts or [])[1:]:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(exc: Any, schema: dict[str, Any]) -> str:
    """One line for a failed check: the argument's path and what was expected."""
    path = _path(exc.path)
    value = exc.value
    rule, definition = exc.rule, exc.rule_definition
    inside = f"argument '{path}' " if path else ""
    if rule == "required" and isinstance(value, dict):
        missing = [k for k in definition or [] if k not in value]
        name = ".".join([p for p in [path, missing[0] if missing else "?"] if p])
        return f"missing required argument '{name}'"
    if rule == "additionalProperties" and isinstance(value, dict):
        node = exc.definition if isinstance(exc.definition, dict) else {}
        known = sorted((node.get("properties") or {}).keys())
        extra = sorted(
            k
            for k in value
            if k not in known and not _matches_pattern(k, node.get("patternProperties"))
        )
        name = ".".join([p for p in [path, extra[0] if extra else "?"] if p])
        return f"unknown argument '{name}' (expected one of: {', '.join(known) or 'none'})"
    if rule == "type":
        types = definition if isinstance(definition, list) else [definition]
        return (
            f"{inside or 'arguments '}must be {' or '.join(str(t) for t in types)}, "
            f"got {_json_type(value)} {value!r:.60}"
        )
    if rule == "enum":
        return f"{inside or 'arguments '}must be one of {definition}, got {value!r:.60}"
    # minimum, maxLength, format, pattern ...: fastjsonschema's words, with our path
    text = str(exc.message)
    text = text.replace(".".join(str(p) for p in exc.path) + " ", "", 1)
    if text.startswith("data "):
        text = text[5:]
    return f"{inside or 'arguments '}{text}" + ("" if rule in ("const",) else f" ({value!r:.60})")


def _matches_pattern(key: str, patterns: Any) -> bool:
    import re

    return any(re.search(p, key) for p in (patterns or {}))


def _json_type(value: Any) -> str:
    """A value's JSON type name (``integer``, ``string``, ``object`` ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
