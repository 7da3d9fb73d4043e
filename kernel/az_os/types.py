"""The data shapes every part of az agrees on.

They are :mod:`msgspec` structs: plain classes with typed fields that build
fast and import in about a millisecond, so commands that only read
(``az task list``) never pay for a validation library. Construction does
not check types (type checkers do that in code); data from outside (a
database row, a model's JSON, a plugin's dict) goes through
:meth:`Record.from_dict`, which validates and converts it (ISO 8601
strings to datetimes, ``"running"`` to :class:`TaskStatus`, ``"8"`` to
``8``) and raises :class:`InvalidData` naming the field.

Every record turns into JSON-ready builtins with :meth:`Record.to_dict`
(datetimes as ISO 8601 strings, ``Z`` for UTC; enums as their values) and
is copied with changes by :meth:`Record.replace`.

Units are part of the field names or docstrings: tokens are counts of model
tokens, money is USD (float), durations are milliseconds (``*_ms``) or
seconds (``*_s``), timestamps are timezone-aware UTC
:class:`datetime.datetime` values.

Names are the public API's (``TaskStatus``, ``TaskPriority``, ``Task``) and
the field's standard terms (tool call, tool result, prompt/completion tokens).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Self

import msgspec


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new task/turn id: 12 lowercase hex characters (48 random bits).

    Short enough to type (``az task show 3f9c0a1b2c4d``), long enough that a
    collision in one database is practically impossible (birthday bound:
    about 1 in 10^6 after 24,000 ids).
    """
    return uuid.uuid4().hex[:12]


class TaskStatus(StrEnum):
    """Lifecycle of a task (design brief), plus ``interrupted``.

    ``interrupted`` marks a task whose process died while it was ``running``
    (crash, SIGKILL, power loss); it can be resumed or rolled back.
    """

    INITIALIZED = "initialized"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        """True for states a task does not leave without a resume."""
        return self in (
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
            TaskStatus.INTERRUPTED,
        )


class TaskPriority(StrEnum):
    """Priority of a task, lowest first (:func:`az_os.util.priority_rank` orders them)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class InvalidData(ValueError):
    """Data that does not fit a record: the message names the field
    (``$.usage.prompt_tokens``) and what was expected."""


def _to_builtin(obj: Any) -> Any:
    """Fallback for values JSON has no type for (a tool's ``Path`` result...): their text."""
    return str(obj)


def to_builtins(value: Any) -> Any:
    """Any record, list or dict of records as JSON-ready builtins (see
    :meth:`Record.to_dict`); values JSON cannot hold become their ``str``."""
    return msgspec.to_builtins(value, enc_hook=_to_builtin)


class Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every kernel record: keyword-only fields, no unknown keys."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready builtins: ``{field: value}`` with datetimes as ISO 8601
        strings (``Z`` for UTC), enums as values, nested records as dicts."""
        out: dict[str, Any] = to_builtins(self)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Validate and convert ``data`` (e.g. :meth:`to_dict` output, a
        database row, decoded JSON) into this record.

        Raises :class:`InvalidData` naming the first bad field."""
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise InvalidData(f"invalid {cls.__name__}: {exc}") from None

    @classmethod
    def checked(cls, value: Any) -> Self:
        """``value`` as a valid record of this class, for data a plugin hands
        back: a record of this class is checked field by field (through
        :meth:`to_dict` and :meth:`from_dict`) and returned unchanged; a
        mapping is converted with :meth:`from_dict`.

        Raises :class:`InvalidData` naming the first bad field, or saying
        what ``value`` was instead. Costs tens of microseconds per record."""
        if isinstance(value, cls):
            cls.from_dict(value.to_dict())
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise InvalidData(f"expected a {cls.__name__}, got {type(value).__name__}")

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (not validated: pass the field types)."""
        return msgspec.structs.replace(self, **changes)


Approval = Literal["ask", "auto", "read-only"]
LogLevel = Literal["debug", "info", "warning", "error"]


def _field(factory: Any) -> Any:
    return msgspec.field(default_factory=factory)


class Task(Record, kw_only=True):
    """One unit of work: a description the agent carries out.

    Token and cost totals are sums over every model call of the task
    (prompt/completion tokens, USD). ``workspace`` is the absolute directory
    the task's tools are confined to. ``pid``/``host`` identify the process
    that last ran it, so a ``running`` task whose process is gone can be
    marked ``interrupted``.
    """

    id: str = _field(new_id)
    description: str
    model: str | None = None
    status: TaskStatus = TaskStatus.INITIALIZED
    priority: TaskPriority = TaskPriority.MEDIUM
    parent_task_id: str | None = None
    created_at: datetime = _field(utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime = _field(utcnow)
    result: str | None = None
    error: str | None = None
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    workspace: str | None = None
    max_turns: int = 5
    max_cost_usd: float | None = None
    approval: Approval = "ask"
    pid: int | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        # "running" and TaskStatus.RUNNING alike: code and tests often pass the text
        if not isinstance(self.status, TaskStatus):
            self.status = TaskStatus(self.status)
        if not isinstance(self.priority, TaskPriority):
            self.priority = TaskPriority(self.priority)

    @property
    def total_tokens(self) -> int:
        """prompt_tokens + completion_tokens."""
        return self.prompt_tokens + self.completion_tokens


Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(Record, kw_only=True):
    """A model's request to run one tool.

    ``arguments`` is the decoded JSON object the model produced; ``id``
    pairs the call with its :class:`ToolResult` (OpenAI ``tool_call_id``).
    """

    id: str = _field(lambda: "call_" + uuid.uuid4().hex[:12])
    name: str
    arguments: dict[str, Any] = _field(dict)


class Message(Record, kw_only=True):
    """One chat message in OpenAI/LiteLLM form.

    ``role="tool"`` messages carry a tool result for ``tool_call_id``;
    assistant messages may carry ``tool_calls``.
    """

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = _field(list)
    tool_call_id: str | None = None
    name: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The message as an OpenAI chat-completions dict (what LiteLLM takes)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            import json

            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


class ToolSpec(Record, kw_only=True):
    """What a tool is, in MCP's shape.

    ``input_schema`` is a JSON Schema object (MCP ``inputSchema``).
    ``read_only`` tools never change anything outside the process and run
    under every approval mode; others (writes, shell) need approval.
    ``plugin`` is filled in by the plugin host with the registering plugin.
    """

    name: str
    description: str
    input_schema: dict[str, Any] = _field(lambda: {"type": "object", "properties": {}})
    category: str = "general"
    read_only: bool = False
    plugin: str | None = None

    def to_mcp(self) -> dict[str, Any]:
        """``{"name", "description", "inputSchema"}`` as MCP ``tools/list`` gives it."""
        return {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }

    def to_openai(self) -> dict[str, Any]:
        """The tool as an OpenAI/LiteLLM ``tools=[...]`` entry, under
        :func:`openai_tool_name` (providers refuse dots in function names;
        the engine maps the name back)."""
        return {
            "type": "function",
            "function": {
                "name": openai_tool_name(self.name),
                "description": self.description,
                "parameters": self.input_schema,
            },
        }


def openai_tool_name(name: str) -> str:
    """A tool name as hosted providers accept it.

    OpenAI, Anthropic and Gemini require function names matching
    ``^[a-zA-Z0-9_-]{1,64}$``; az's names use dots (``filesystem.list``,
    MCP's ``time.get_current_time``). ``.`` becomes ``__``, any other
    character outside the set becomes ``_``, and the result is cut to 64
    characters. The engine resolves either form back to the tool.
    """
    import re

    return re.sub(r"[^a-zA-Z0-9_-]", "_", name.replace(".", "__"))[:64]


class ToolResult(Record, kw_only=True):
    """The outcome of one tool call (design brief ``MCPToolResult``).

    ``result`` is any JSON value; ``error`` is a one-line message shown to
    the model when ``success`` is false. ``duration_ms`` is wall time.
    """

    success: bool
    result: Any = None
    error: str | None = None
    metadata: dict[str, Any] = _field(dict)
    duration_ms: float = 0.0


class Usage(Record, kw_only=True):
    """Tokens and money of one model call.

    ``cached_tokens`` is the part of ``prompt_tokens`` served from the
    provider's prompt cache, ``cache_write_tokens`` the part written to it
    (Anthropic bills those higher), when the provider reports them. ``cost_usd`` is
    computed from the model's prices (see :class:`ModelInfo`).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class ModelInfo(Record, kw_only=True):
    """What the router and cost tracker know about a model.

    ``id`` is LiteLLM style (``provider/name``, e.g.
    ``anthropic/claude-sonnet-4-5``). Prices are USD per token (multiply by
    1e6 for the usual "per 1M tokens"); ``price_source`` says where they come
    from (e.g. ``"litellm model_prices_and_context_window.json"``,
    ``"config"``, ``"local: free"``). ``context_window`` is in tokens.
    ``local`` models run in-process and cost nothing.
    When ``models.default`` is not set, the usable model with the highest
    ``default_priority`` is the default (ties: first registered).
    """

    id: str
    provider: str
    context_window: int = 4096
    max_output_tokens: int | None = None
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    cache_read_cost_per_token: float | None = None
    cache_write_cost_per_token: float | None = None
    #: prompt tokens above which the ``*_above_tier`` prices apply to the whole call
    tier_threshold_tokens: int | None = None
    input_cost_per_token_above_tier: float | None = None
    output_cost_per_token_above_tier: float | None = None
    cache_read_cost_per_token_above_tier: float | None = None
    price_source: str = "unknown"
    supports_tools: bool = False
    supports_streaming: bool = True
    local: bool = False
    aliases: list[str] = _field(list)
    plugin: str | None = None
    #: among usable models, the highest becomes the default when none is set
    default_priority: int = 0

    def cost(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """USD for one call, with LiteLLM's formula (``cost_per_token``):

        * above ``tier_threshold_tokens`` prompt tokens (e.g. 200k for Gemini
          2.5 Pro) every token of the call is billed at the ``*_above_tier``
          prices, where the model has them;
        * prompt tokens read from the cache cost the cache-read price, those
          written to it the cache-write price (each the input price when
          unknown); the rest cost the input price;
        * completion tokens cost the output price.
        """
        tier = self.tier_threshold_tokens is not None and prompt_tokens > self.tier_threshold_tokens

        def price(base: float | None, above: float | None, fallback: float) -> float:
            chosen = above if tier and above is not None else base
            return fallback if chosen is None else chosen

        inp = price(self.input_cost_per_token, self.input_cost_per_token_above_tier, 0.0)
        out = price(self.output_cost_per_token, self.output_cost_per_token_above_tier, 0.0)
        read = price(self.cache_read_cost_per_token, self.cache_read_cost_per_token_above_tier, inp)
        write = (
            self.cache_write_cost_per_token if self.cache_write_cost_per_token is not None else inp
        )
        uncached = max(prompt_tokens - cached_tokens - cache_write_tokens, 0)
        return (
            uncached * inp
            + cached_tokens * read
            + cache_write_tokens * write
            + completion_tokens * out
        )


class ModelRequest(Record, kw_only=True):
    """One model call as the engine asks for it.

    ``max_tokens`` caps completion tokens; ``temperature`` is the sampling
    temperature. ``tools`` are offered to the model; ``tool_choice`` is
    ``"auto"`` (answer or call) or ``"required"`` (must call a tool).
    """

    messages: list[Message]
    tools: list[ToolSpec] = _field(list)
    tool_choice: Literal["auto", "required", "none"] = "auto"
    max_tokens: int = 1024
    temperature: float = 0.2
    stop: list[str] = _field(list)
    #: what the engine knows about this call: turn (int, from 1), max_turns,
    #: failed_models (ids that failed earlier in the task, with reasons),
    #: escalate (bool: the engine asks for a stronger model)
    metadata: dict[str, Any] = _field(dict)


class ModelResponse(Record, kw_only=True):
    """A model's answer: a message (text and/or tool calls) and its usage.

    ``finish_reason`` is the provider's (``stop``, ``length``,
    ``tool_calls``...). ``duration_ms`` is wall time of the call.
    """

    model: str
    message: Message
    usage: Usage = _field(Usage)
    finish_reason: str | None = None
    duration_ms: float = 0.0

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.message.tool_calls


class StreamDelta(Record, kw_only=True):
    """One piece of a streamed answer: text, and on the last piece, usage."""

    text: str = ""
    tool_calls: list[ToolCall] = _field(list)
    usage: Usage | None = None
    finish_reason: str | None = None


EventType = Literal[
    "created",
    "started",
    "resumed",
    "turn",
    "model_call",
    "tool_call",
    "tool_result",
    "token",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
    "warning",
]


class TaskEvent(Record, kw_only=True):
    """A lifecycle or progress event of a task (``az_task_event``).

    ``data`` depends on ``type``; e.g. ``turn`` carries ``{"turn": int}``,
    ``tool_result`` carries the call and its :class:`ToolResult` as JSON.
    """

    type: EventType
    task_id: str
    data: dict[str, Any] = _field(dict)
    timestamp: datetime = _field(utcnow)


class Turn(Record, kw_only=True):
    """One ReAct turn as stored: the model call and what came of it.

    ``messages`` are the messages this turn added to the conversation (the
    assistant message, then one ``tool`` message per tool call), in order.
    ``index`` counts from 1. Durations are milliseconds.
    """

    task_id: str
    index: int
    model: str | None = None
    messages: list[Message] = _field(list)
    tool_calls: list[ToolCall] = _field(list)
    tool_results: list[ToolResult] = _field(list)
    usage: Usage = _field(Usage)
    model_duration_ms: float = 0.0
    tools_duration_ms: float = 0.0
    created_at: datetime = _field(utcnow)


class LogRecord(Record, kw_only=True):
    """One row of a task's log (``task_logs``). ``level`` is lowercase."""

    task_id: str | None = None
    timestamp: datetime = _field(utcnow)
    level: LogLevel = "info"
    message: str


HealthStatus = Literal["ok", "degraded", "unhealthy"]


class HealthResult(Record, kw_only=True):
    """The outcome of one named health check."""

    name: str
    status: HealthStatus
    detail: str = ""
    data: dict[str, Any] = _field(dict)


class CostRecord(Record, kw_only=True):
    """One row of ``cost_tracking``: the money of one model call.

    ``input_tokens``/``output_tokens`` are prompt/completion tokens;
    ``cached_tokens`` the part of the input read from a prompt cache.
    """

    task_id: str | None = None
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    timestamp: datetime = _field(utcnow)


class ToolUsage(Record, kw_only=True):
    """One row of ``tool_usage``: how often a task called a tool and for how long."""

    task_id: str | None = None
    tool_name: str
    invocation_count: int = 0
    total_duration_ms: float = 0.0


class Checkpoint(Record, kw_only=True):
    """A recorded state of a workspace that az can put back (``az state``,
    ``az undo``; the ``az-git`` plugin makes them).

    ``commit`` is the object id of the snapshot in the workspace's checkpoint
    store; ``workspace`` the absolute directory it was taken of. ``task_id``
    and ``turn`` say which task and ReAct turn (from 1) it was taken in: an
    automatic checkpoint is taken before the first writing tool call of that
    turn, so it holds the workspace as the previous turn left it; ``turn`` 0
    means outside a task. ``name`` is ``auto`` (before a turn's writes),
    ``end`` (when the task ended), ``pre-restore``/``pre-undo`` (taken by a
    restore before it changed anything), or the user's name.
    """

    id: str = _field(new_id)
    task_id: str | None = None
    turn: int = 0
    name: str = "auto"
    commit: str
    workspace: str
    created_at: datetime = _field(utcnow)
