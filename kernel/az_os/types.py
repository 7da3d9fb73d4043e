"""The data shapes every part of az agrees on.

All of them are pydantic models, so they validate on construction and turn
into JSON with ``model_dump(mode="json")``. Units are part of the field names
or docstrings: tokens are counts of model tokens, money is USD (float),
durations are milliseconds (``*_ms``) or seconds (``*_s``), timestamps are
timezone-aware UTC :class:`datetime.datetime` values.

Names follow the design brief (``TaskStatus``, ``TaskPriority``, ``Task``) and
the field's standard terms (tool call, tool result, prompt/completion tokens).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
    """Priority of a task (design brief)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class Task(_Model):
    """One unit of work: a description the agent carries out.

    Token and cost totals are sums over every model call of the task
    (prompt/completion tokens, USD). ``workspace`` is the absolute directory
    the task's tools are confined to. ``pid``/``host`` identify the process
    that last ran it, so a ``running`` task whose process is gone can be
    marked ``interrupted``.
    """

    id: str = Field(default_factory=new_id)
    description: str
    model: str | None = None
    status: TaskStatus = TaskStatus.INITIALIZED
    priority: TaskPriority = TaskPriority.MEDIUM
    parent_task_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    result: str | None = None
    error: str | None = None
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    workspace: str | None = None
    max_turns: int = 5
    max_cost_usd: float | None = None
    approval: Literal["ask", "auto", "read-only"] = "ask"
    pid: int | None = None
    host: str | None = None

    @property
    def total_tokens(self) -> int:
        """prompt_tokens + completion_tokens."""
        return self.prompt_tokens + self.completion_tokens


Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(_Model):
    """A model's request to run one tool.

    ``arguments`` is the decoded JSON object the model produced; ``id``
    pairs the call with its :class:`ToolResult` (OpenAI ``tool_call_id``).
    """

    id: str = Field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(_Model):
    """One chat message in OpenAI/LiteLLM form.

    ``role="tool"`` messages carry a tool result for ``tool_call_id``;
    assistant messages may carry ``tool_calls``.
    """

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
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


class ToolSpec(_Model):
    """What a tool is, in MCP's shape.

    ``input_schema`` is a JSON Schema object (MCP ``inputSchema``).
    ``read_only`` tools never change anything outside the process and run
    under every approval mode; others (writes, shell) need approval.
    ``plugin`` is filled in by the plugin host with the registering plugin.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    name: str
    description: str
    input_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}, alias="inputSchema"
    )
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


class ToolResult(_Model):
    """The outcome of one tool call (design brief ``MCPToolResult``).

    ``result`` is any JSON value; ``error`` is a one-line message shown to
    the model when ``success`` is false. ``duration_ms`` is wall time.
    """

    success: bool
    result: Any = None
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    duration_ms: float = 0.0


class Usage(_Model):
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


class ModelInfo(_Model):
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
    tier_threshold_tokens: int | None = Field(
        None,
        description="prompt tokens above which the *_above_tier prices apply to the whole call",
    )
    input_cost_per_token_above_tier: float | None = None
    output_cost_per_token_above_tier: float | None = None
    cache_read_cost_per_token_above_tier: float | None = None
    price_source: str = "unknown"
    supports_tools: bool = False
    supports_streaming: bool = True
    local: bool = False
    aliases: list[str] = Field(default_factory=list)
    plugin: str | None = None
    default_priority: int = Field(
        0, description="among usable models, the highest becomes the default when none is set"
    )

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


class ModelRequest(_Model):
    """One model call as the engine asks for it.

    ``max_tokens`` caps completion tokens; ``temperature`` is the sampling
    temperature. ``tools`` are offered to the model; ``tool_choice`` is
    ``"auto"`` (answer or call) or ``"required"`` (must call a tool).
    """

    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: Literal["auto", "required", "none"] = "auto"
    max_tokens: int = 1024
    temperature: float = 0.2
    stop: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "what the engine knows about this call: turn (int, from 1), max_turns, "
            "failed_models (ids that failed earlier in the task, with reasons), "
            "escalate (bool: the engine asks for a stronger model)"
        ),
    )


class ModelResponse(_Model):
    """A model's answer: a message (text and/or tool calls) and its usage.

    ``finish_reason`` is the provider's (``stop``, ``length``,
    ``tool_calls``...). ``duration_ms`` is wall time of the call.
    """

    model: str
    message: Message
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    duration_ms: float = 0.0

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.message.tool_calls


class StreamDelta(_Model):
    """One piece of a streamed answer: text, and on the last piece, usage."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
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


class TaskEvent(_Model):
    """A lifecycle or progress event of a task (``az_task_event``).

    ``data`` depends on ``type``; e.g. ``turn`` carries ``{"turn": int}``,
    ``tool_result`` carries the call and its :class:`ToolResult` as JSON.
    """

    type: EventType
    task_id: str
    data: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime = Field(default_factory=utcnow)


class Turn(_Model):
    """One ReAct turn as stored: the model call and what came of it.

    ``messages`` are the messages this turn added to the conversation (the
    assistant message, then one ``tool`` message per tool call), in order.
    ``index`` counts from 1. Durations are milliseconds.
    """

    task_id: str
    index: int
    model: str | None = None
    messages: list[Message] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    model_duration_ms: float = 0.0
    tools_duration_ms: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)


class LogRecord(_Model):
    """One row of a task's log (``task_logs``). ``level`` is lowercase."""

    task_id: str | None = None
    timestamp: datetime = Field(default_factory=utcnow)
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str


HealthStatus = Literal["ok", "degraded", "unhealthy"]


class HealthResult(_Model):
    """The outcome of one named health check."""

    name: str
    status: HealthStatus
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class CostRecord(_Model):
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
    timestamp: datetime = Field(default_factory=utcnow)


class ToolUsage(_Model):
    """One row of ``tool_usage``: how often a task called a tool and for how long."""

    task_id: str | None = None
    tool_name: str
    invocation_count: int = 0
    total_duration_ms: float = 0.0
