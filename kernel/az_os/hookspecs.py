"""Every hook a plugin can implement (pluggy project name ``"az"``).

Plugins mark each implementation with ``@az_os.hookimpl`` (``from az_os
import hookimpl``). Hooks are called with keyword arguments only, so an
implementation may accept any subset of a hook's arguments (pluggy passes
just the ones it names). Unless a hook says *firstresult*, every
implementation is called and their results are collected into a list
(``None`` results are dropped).

Kinds used below:

- **all** - every implementation runs; results are collected in a list.
- **firstresult** - implementations run (most recently registered first;
  ``tryfirst``/``trylast`` adjust the order) until one returns something
  other than ``None``; that value is the result.
- **historic** - called once at start-up; a plugin registered later is
  called on registration with the same arguments.

Failures: every hook is called through pluggy's own loop. An implementation
that raises is logged (``az.plugins`` logger) and skipped inside that loop,
and the other implementations still run, except in the hooks of
:data:`PROPAGATING_HOOKS` (a veto, a refusal, a broken router or start-up
must be seen), whose exceptions reach the caller. Two isolated hooks
(:data:`AZ_ERRORS_PROPAGATE`) still let an :class:`~az_os.errors.AzError`
through. Each hook below says which applies.

Order and wrappers: ``@hookimpl(tryfirst=True)`` / ``trylast=True`` order
any hook, and ``@hookimpl(wrapper=True)`` (or the older
``hookwrapper=True``) wraps any hook but the historic ``az_configure``
(pluggy refuses wrappers on historic hooks). A wrapper sees the results of
the implementations inside it, failed ones counting as ``None``; its own
exceptions are not isolated.

``AZ_TRACE_PLUGINS=1 az task run ...`` prints every hook call on stderr:
its arguments, the implementations in call order and the result.

Storage is not a hook: it is a single-choice backend in the ``az.storage``
entry-point group, chosen with the ``storage.backend`` setting (see
:mod:`az_os.drivers` and docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import typer

    from az_os.config import AzConfig
    from az_os.models import Model
    from az_os.tools import Tool
    from az_os.types import (
        ModelRequest,
        ModelResponse,
        Task,
        TaskEvent,
        ToolCall,
        ToolResult,
        Usage,
    )

hookspec = pluggy.HookspecMarker("az")

# These docstrings are the reference part of docs/plugin-hooks.md, rendered by
# az_os.hookdoc (its docstring gives their layout): after editing one, run
# `python -m az_os.hookdoc --write docs/plugin-hooks.md`.

#: Hooks whose implementations' exceptions reach the caller; every other
#: hook isolates each implementation's failure.
PROPAGATING_HOOKS = frozenset(
    {"az_configure", "az_route", "az_before_model_call", "az_before_tool_call"}
)
#: Isolated hooks that still let an :class:`~az_os.errors.AzError` reach the
#: caller (a secrets backend that is locked or failed to store says so).
AZ_ERRORS_PROPAGATE = frozenset({"az_get_secret", "az_set_secret"})


@hookspec(historic=True)
def az_configure(config: AzConfig) -> None:
    """Give plugins the loaded configuration, once, at start-up.

    Called: once, the first time the configuration is read after the
    plugins are loaded (by a command that needs it, or when an engine
    starts); a plugin registered later is called on registration.
    Args:
        config: the validated :class:`az_os.config.AzConfig`. A plugin reads
            its own section with ``config.section("myplugin")`` (a ``dict``,
            empty when absent), validated with
            :func:`az_os.config.parse_section` into a typed record, and
            declares the section in the ``az.config`` entry-point group
            (docs/writing-plugins.md, "Settings"). Users set it with
            ``az config set myplugin.key=value`` or ``AZ_MYPLUGIN__KEY=value``.
    Returns: nothing.
    Kind: historic.
    """


@hookspec
def az_register_commands(app: typer.Typer) -> None:
    """Add commands or sub-apps to the ``az`` command line (the older way).

    Prefer declaring commands in the ``az.commands`` entry point
    (:class:`az_os.commands.Command`, docs/writing-plugins.md "Commands"):
    then ``az --help`` lists them without importing any plugin, and this
    hook is never called for a plugin that declares them. While one
    installed plugin uses this hook, ``az --help`` loads every plugin module,
    so heavy libraries belong inside the command function.

    Called: once per process, when a command name is not found among the
    kernel's and the declared commands, or when the command list is shown
    (``az --help``, ``az task --help``, shell completion).
    Args:
        app: the root :class:`typer.Typer`; add a group with
            ``app.add_typer(group, name="db")`` or a command with
            ``@app.command()``.
    Returns: nothing.
    Kind: all.
    """


@hookspec
def az_register_models(register: Callable[..., None]) -> None:
    """Register the models a plugin provides.

    The engine checks every answer with ``ModelResponse.checked(...)``
    before using it: tool-call ``arguments`` must be a decoded JSON object
    (parse the provider's string) and ``message`` must be set. An invalid
    answer raises :class:`az_os.errors.InvalidResponseError`, a
    ``ModelError``: a routed task moves on to another model, a task with a
    fixed model fails with the field named (``model echo/parrot returned an
    invalid response: invalid ModelResponse: Expected object, got str - at
    $.message.tool_calls[0].arguments``). Nothing invalid is stored.

    Called: the first time anything asks for the model list in a process.
    Args:
        register(model, aliases=()): ``model`` is an
            :class:`az_os.models.Model` (its ``info`` is a
            :class:`~az_os.types.ModelInfo`: id ``provider/name``, context
            window in tokens, prices in USD per token, tool and streaming
            support); ``aliases`` are extra short names (e.g. ``"sonnet"``).
            An id registered twice keeps the first.
    Returns: nothing.
    Kind: all.
    """


@hookspec
def az_register_tools(register: Callable[..., None]) -> None:
    """Register the tools a plugin provides.

    Tools return a ``ToolResult(success, result | error)``; expected
    failures are results, not exceptions. Anything else a tool returns (a
    dict, ``None``, a ``ToolResult`` with a wrong field type) becomes a
    failed result, ``<tool> returned an invalid result: ...``, which the
    model reads.

    Called: the first time anything asks for the tool list in a process.
    Args:
        register(tool): ``tool`` is an :class:`az_os.tools.Tool` whose
            ``spec`` (:class:`~az_os.types.ToolSpec`) has an MCP-style
            ``name``, ``description`` and ``input_schema`` (a JSON Schema
            object), a ``category`` and ``read_only``.
    Returns: nothing.
    Kind: all.
    """


@hookspec(firstresult=True)
def az_route(task: Task, request: ModelRequest, candidates: list[Model]) -> Model | None:
    """Pick the model for one model call.

    Called: before every model call of a task whose model the user did not
    fix (``--model``).
    Args:
        task: the :class:`~az_os.types.Task`.
        request: the :class:`~az_os.types.ModelRequest` about to be made:
            messages, tools offered, ``max_tokens``, and ``metadata`` with
            ``turn``, ``max_turns``, ``failed_models`` and (after a failed
            call) ``escalate``.
        candidates: the usable models (key present, weights present),
            cheapest first.
    Returns: the chosen :class:`~az_os.models.Model`, or ``None`` to let the
    next implementation decide. The kernel's own implementation is
    ``trylast`` and returns the configured default model.
    Kind: firstresult.
    """


@hookspec
def az_context(task: Task, query: str) -> list[str] | str | None:
    """Contribute extra context to a task's system prompt.

    Called: once per task, when its first prompt is built.
    Args:
        task: the :class:`~az_os.types.Task`.
        query: the text to retrieve for (the task description).
    Returns: a string, a list of strings (each a self-contained snippet,
    e.g. a retrieved document or a remembered lesson) or ``None``. The
    engine joins every plugin's snippets and trims them to
    ``agent.context_tokens`` tokens (tokens ≈ characters / 4): keep yours
    under about 1,000 tokens (4,000 characters).
    Kind: all.
    """


@hookspec
def az_before_model_call(task: Task, request: ModelRequest, model: Model) -> None:
    """Inspect or veto a model call before any money is spent.

    Called: right before each model call.
    Args:
        task: the :class:`~az_os.types.Task` (``cost_usd`` so far, in USD).
        request: the :class:`~az_os.types.ModelRequest`: messages, tools and
            ``max_tokens`` of the call.
        model: the :class:`~az_os.models.Model` about to be called (its
            ``info`` has prices in USD per token).
    Returns: nothing. Raise :class:`az_os.errors.BudgetExceededError` (or
    any :class:`~az_os.errors.AzError`) to refuse the call: the task then
    fails with that message, and everything recorded so far is kept.
    Kind: all.
    """


@hookspec
def az_after_model_call(
    task: Task, request: ModelRequest, response: ModelResponse, usage: Usage
) -> None:
    """Observe a finished model call (cost tracking, telemetry).

    Called: after each successful model call, before its result is used.
    Args:
        task: the :class:`~az_os.types.Task`.
        request: the :class:`~az_os.types.ModelRequest` that was sent.
        response: the model's :class:`~az_os.types.ModelResponse` (message,
            tool calls, ``finish_reason``, ``duration_ms`` in milliseconds).
        usage: the call's :class:`~az_os.types.Usage`: prompt, completion
            and cached tokens, and ``cost_usd`` (USD).
    Returns: nothing.
    Kind: all.
    """


@hookspec
def az_before_tool_call(task: Task, call: ToolCall, tool: Tool) -> None:
    """Approve or refuse a tool call (approval policy, audit, checkpoints).

    The kernel's approval policy (``az_os.default_plugins.policy``,
    ``tryfirst``) is an implementation of this hook.

    Called: after the call's arguments were validated against the tool's
    schema, before the tool runs.
    Args:
        task: the :class:`~az_os.types.Task`.
        call: the :class:`~az_os.types.ToolCall`: ``id``, ``name`` and
            ``arguments`` (a dict).
        tool: the :class:`~az_os.tools.Tool` (``tool.spec.read_only`` says
            whether it changes anything).
    Returns: nothing. Raise :class:`az_os.errors.ToolRefusedError` to refuse:
    the model sees the message as the tool result.
    Kind: all.
    """


@hookspec
def az_after_tool_call(task: Task, call: ToolCall, result: ToolResult) -> None:
    """Observe a finished tool call (usage records, audit, checkpoints).

    Called: after each tool call, successful or not.
    Args:
        task: the :class:`~az_os.types.Task`.
        call: the :class:`~az_os.types.ToolCall`.
        result: the :class:`~az_os.types.ToolResult`: ``success``,
            ``result`` or ``error``, ``duration_ms`` (milliseconds).
    Returns: nothing.
    Kind: all.
    """


@hookspec
def az_task_event(task: Task, event: TaskEvent) -> None:
    """Follow a task's lifecycle.

    Called: on each lifecycle event: ``created``, ``started``,
    ``resumed``, ``turn``, ``completed``, ``failed``, ``cancelled`` and
    ``interrupted``.
    Args:
        task: the :class:`~az_os.types.Task` as it is now.
        event: the :class:`~az_os.types.TaskEvent` (``type``, ``task_id``,
            ``data``, ``timestamp``; its docstring gives each ``data``
            shape).
    Returns: nothing.
    Kind: all.
    """


@hookspec
def az_health_checks(register: Callable[..., None]) -> None:
    """Register named health checks.

    Called: when health is asked for (``az health``, the server's
    ``/api/health``).
    Args:
        register(name, check): ``check()`` takes no arguments and returns a
            :class:`~az_os.types.HealthResult` (``ok``, ``degraded`` or
            ``unhealthy``, with a detail line).
    Returns: nothing.
    Kind: all.
    """


@hookspec(firstresult=True)
def az_get_secret(name: str) -> str | None:
    """Look up a secret (an API key) by its environment-variable name.

    Every value the host hands out is remembered by :mod:`az_os.redact` and
    masked (``****1234``) wherever az writes from then on. az-keyring
    implements this hook.

    Called: when a provider needs a key that is not in the environment.
    Args:
        name: the environment variable's name, e.g. ``"ANTHROPIC_API_KEY"``.
    Returns: the secret, or ``None`` if this plugin does not have it.
    Kind: firstresult.
    """


@hookspec
def az_metrics() -> str | None:
    """Contribute metrics in the Prometheus text exposition format.

    The host joins every plugin's text
    (:meth:`az_os.plugins.PluginHost.metrics_text`), so the server exposes
    what a telemetry plugin collects without importing it.

    Called: when metrics are asked for (``az metrics``, the server's
    ``/api/metrics``).
    Args: none.
    Returns: Prometheus text format 0.0.4 (``# HELP``/``# TYPE`` lines and
    samples, names prefixed ``az_``, units in the name: ``_seconds``,
    ``_usd``, ``_bytes``, ``_total`` for counters), or ``None``. Each
    plugin must use metric names no other plugin uses.
    Kind: all.
    """


@hookspec(firstresult=True)
def az_set_secret(name: str, value: str) -> bool | None:
    """Store a secret (an API key, the server's token) where a secrets
    plugin keeps them (e.g. the OS keyring).

    Called: when az creates or rotates a secret of its own (``az serve
    token --rotate`` stores the server's bearer token as
    ``AZ_SERVER_TOKEN``).
    Args:
        name: the secret's name, as for ``az_get_secret``.
        value: the secret.
    Returns: ``True`` once stored, or ``None`` if this plugin cannot store
    it (the caller then falls back, e.g. to a file only its owner can
    read). Raise an :class:`~az_os.errors.AzError` when storing was
    attempted and failed.
    Kind: firstresult.
    """


@hookspec
def az_secret_names() -> list[str] | None:
    """Name the secrets a plugin's store holds (never their values).

    Called: when az needs to know which names are secrets:
    ``shell.execute`` removes variables of these names from a command's
    environment, and an engine (and ``az mcp serve``) fetches each one
    through ``az_get_secret`` once at start, so their values are masked in
    tool results, storage and output even if a command reads them from the
    store itself.
    Args: none.
    Returns: a list of names (e.g. ``["ANTHROPIC_API_KEY"]``) or ``None``.
    Keep it cheap: read an index file; do not import the keyring library or
    unlock a vault here.
    Kind: all.
    """
