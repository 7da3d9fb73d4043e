"""The tool contract: what the engine calls when a model asks for a tool.

A plugin registers :class:`Tool` objects through ``az_register_tools``. Each
has a :class:`~az_os.types.ToolSpec` (MCP shape: name, description,
inputSchema) and an async :meth:`Tool.call` that returns a
:class:`~az_os.types.ToolResult`. Tools never raise for an expected failure
(file not found, command failed): they return ``success=False`` with a
one-line ``error`` the model can read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from az_os.config import AzConfig
from az_os.errors import ToolArgumentsError
from az_os.types import Task, ToolResult, ToolSpec

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
    """Check ``arguments`` against the subset of JSON Schema tools use.

    Checks: an object; required keys present; no keys outside
    ``properties`` when ``additionalProperties`` is false; each value of
    declared ``type`` (string, integer, number, boolean, array, object) or
    ``enum``. Returns the arguments with schema ``default`` values filled
    in. Raises :class:`~az_os.errors.ToolArgumentsError` with one line
    naming the key and what was expected.
    """
    if not isinstance(arguments, dict):
        raise ToolArgumentsError(
            f"{spec.name}: arguments must be a JSON object, got {type(arguments).__name__}"
        )
    schema = spec.input_schema or {}
    props: dict[str, Any] = schema.get("properties", {}) or {}
    for key in schema.get("required", []) or []:
        if key not in arguments:
            raise ToolArgumentsError(f"{spec.name}: missing required argument '{key}'")
    if schema.get("additionalProperties") is False:
        extra = sorted(set(arguments) - set(props))
        if extra:
            raise ToolArgumentsError(
                f"{spec.name}: unknown argument '{extra[0]}' (expected one of: "
                f"{', '.join(sorted(props)) or 'none'})"
            )
    checks: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
        "array": (list,),
        "object": (dict,),
    }
    out = dict(arguments)
    for key, prop in props.items():
        if key not in out:
            if isinstance(prop, dict) and "default" in prop:
                out[key] = prop["default"]
            continue
        if not isinstance(prop, dict):
            continue
        value = out[key]
        if value is None and key not in (schema.get("required") or []):
            out.pop(key)
            continue
        types = prop.get("type")
        if isinstance(types, str):
            types = [types]
        if types:
            ok = False
            for t in types:
                py = checks.get(t)
                if t == "null" and value is None:
                    ok = True
                elif py is not None and isinstance(value, py):
                    # bool is an int in Python; JSON keeps them apart
                    ok = not (t in ("integer", "number") and isinstance(value, bool))
                if ok:
                    break
            if not ok:
                raise ToolArgumentsError(
                    f"{spec.name}: argument '{key}' must be {' or '.join(types)}, "
                    f"got {type(value).__name__} {value!r:.60}"
                )
        if "enum" in prop and value not in prop["enum"]:
            raise ToolArgumentsError(
                f"{spec.name}: argument '{key}' must be one of {prop['enum']}, got {value!r:.60}"
            )
    return out
