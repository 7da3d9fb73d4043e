"""Every hook a plugin can implement (pluggy project name ``"az"``).

Plugins implement hooks with ``@az_os.hookimpl`` and are called with keyword
arguments only, so an implementation may accept any subset of a hook's
arguments (pluggy passes just the ones it names). Unless a hook says
*firstresult*, every implementation is called and their results are
collected into a list (``None`` results are dropped).

Kinds used below:

* **all** - every implementation runs; results are a list.
* **firstresult** - implementations run until one returns non-``None``;
  that value is the result.
* **historic** - called once at start-up; plugins registered later are
  called on registration with the same arguments.

Failures: an implementation that raises is logged and skipped (the other
implementations still run), except in the hooks of
:data:`PROPAGATING_HOOKS`, where the exception reaches the caller (a veto,
a refusal, a broken router or start-up). Every hook accepts
``tryfirst``/``trylast``, and every hook but the historic ``az_configure``
accepts wrappers (``@hookimpl(wrapper=True)`` or ``hookwrapper=True``;
pluggy refuses wrappers on historic hooks); a wrapper's own exceptions are
not isolated.

Single-choice backends (storage) are not hooks: they are chosen by name
from the ``az.storage`` entry points (see :mod:`az_os.drivers`).
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

    Called: once, the first time the config is read after the plugins are
    loaded (by a command that needs it, or when an engine starts); historic:
    a plugin registered later is called on registration.
    Args: ``config`` - the validated :class:`~az_os.config.AzConfig`;
    a plugin reads its own section with ``config.section("name")``
    (a dict).
    Returns: nothing. Kind: historic.
    """


@hookspec
def az_register_commands(app: typer.Typer) -> None:
    """Add commands or sub-apps to the ``az`` command line.

    Called: once, when the CLI is built, before arguments are parsed.
    Args: ``app`` - the root :class:`typer.Typer`; add a group with
    ``app.add_typer(sub, name="db")`` or a command with ``@app.command()``.
    Keep module-level imports light: heavy libraries belong inside the
    command function.
    Returns: nothing. Kind: all.
    """


@hookspec
def az_register_models(register: Callable[..., None]) -> None:
    """Register the models a plugin provides.

    Called: the first time anything asks for the model list in a process.
    Args: ``register(model, aliases=())`` - ``model`` is an
    :class:`~az_os.models.Model`; ``aliases`` are extra short names
    (e.g. ``"sonnet"``). Registering an id twice keeps the first.
    Returns: nothing. Kind: all.
    """


@hookspec
def az_register_tools(register: Callable[..., None]) -> None:
    """Register the tools a plugin provides.

    Called: the first time anything asks for the tool list in a process.
    Args: ``register(tool)`` - ``tool`` is an :class:`~az_os.tools.Tool`
    whose ``spec`` has an MCP-compatible ``name``, ``description`` and
    ``input_schema`` (JSON Schema object).
    Returns: nothing. Kind: all.
    """


@hookspec(firstresult=True)
def az_route(task: Task, request: ModelRequest, candidates: list[Model]) -> Model | None:
    """Pick the model for one model call.

    Called: before every model call of a task whose model was not fixed by
    the user (``--model``).
    Args: ``task`` - the task; ``request`` - the call about to be made
    (messages, tools offered, ``max_tokens``); ``candidates`` - usable
    models (key present / weights present), cheapest first.
    Returns: the chosen :class:`~az_os.models.Model`, or ``None`` to let
    the next implementation decide. The kernel's own implementation is
    ``trylast`` and returns the configured default model.
    Kind: firstresult.
    """


@hookspec
def az_context(task: Task, query: str) -> list[str] | str | None:
    """Contribute extra context to a task's system prompt.

    Called: once per task, when its first prompt is built.
    Args: ``task`` - the task; ``query`` - the text to retrieve for
    (the task description).
    Returns: a string or list of strings (each a self-contained snippet,
    e.g. a retrieved document or a remembered lesson) or ``None``. Keep the
    total under about 1,000 tokens (4,000 characters): the engine trims the
    combined context to ``agent.context_tokens`` (tokens ≈ characters / 4).
    Kind: all.
    """


@hookspec
def az_before_model_call(task: Task, request: ModelRequest, model: Model) -> None:
    """Inspect or veto a model call before any money is spent.

    Called: right before each model call.
    Args: ``task``; ``request`` - messages, tools and ``max_tokens`` of the
    call; ``model`` - the model about to be called (its ``info`` has prices
    in USD per token).
    Returns: nothing. Raise :class:`~az_os.errors.BudgetExceededError`
    (or any :class:`~az_os.errors.AzError`) to refuse the call; the task
    then fails with that message.
    Kind: all.
    """


@hookspec
def az_after_model_call(
    task: Task, request: ModelRequest, response: ModelResponse, usage: Usage
) -> None:
    """Observe a finished model call (cost tracking, telemetry).

    Called: after each successful model call, before its result is used.
    Args: ``task``; ``request``; ``response`` - the model's answer;
    ``usage`` - prompt/completion/cached tokens and ``cost_usd`` (USD).
    Returns: nothing. Exceptions are logged and ignored.
    Kind: all.
    """


@hookspec
def az_before_tool_call(task: Task, call: ToolCall, tool: Tool) -> None:
    """Approve or refuse a tool call (approval policy, audit, checkpoints).

    Called: after the call's arguments were validated against the tool's
    schema, before the tool runs.
    Args: ``task``; ``call`` - name, arguments (dict) and id; ``tool`` -
    the :class:`~az_os.tools.Tool` (``tool.spec.read_only`` says whether
    it changes anything).
    Returns: nothing. Raise :class:`~az_os.errors.ToolRefusedError` to
    refuse: the model sees the message as the tool result.
    Kind: all.
    """


@hookspec
def az_after_tool_call(task: Task, call: ToolCall, result: ToolResult) -> None:
    """Observe a finished tool call (usage records, audit, checkpoints).

    Called: after each tool call, successful or not.
    Args: ``task``; ``call``; ``result`` - ``success``, ``result`` or
    ``error``, ``duration_ms`` (milliseconds).
    Returns: nothing. Exceptions are logged and ignored.
    Kind: all.
    """


@hookspec
def az_task_event(task: Task, event: TaskEvent) -> None:
    """Follow a task's lifecycle.

    Called: on ``created``, ``started``, ``resumed``, ``turn``,
    ``completed``, ``failed``, ``cancelled`` and ``interrupted`` (see
    :class:`~az_os.types.TaskEvent` for each ``data`` shape).
    Args: ``task`` - the task as it is now; ``event``.
    Returns: nothing. Exceptions are logged and ignored.
    Kind: all.
    """


@hookspec
def az_health_checks(register: Callable[..., None]) -> None:
    """Register named health checks (``az health``).

    Called: when health is asked for.
    Args: ``register(name, check)`` - ``check()`` takes no arguments and
    returns a :class:`~az_os.types.HealthResult` (``ok``, ``degraded`` or
    ``unhealthy`` with a detail line).
    Returns: nothing. Kind: all.
    """


@hookspec(firstresult=True)
def az_get_secret(name: str) -> str | None:
    """Look up a secret (an API key) by its environment-variable name.

    Called: when a provider needs a key that is not in the environment.
    Args: ``name`` - e.g. ``"ANTHROPIC_API_KEY"``.
    Returns: the secret, or ``None`` if this plugin does not have it.
    Kind: firstresult.
    """


@hookspec
def az_metrics() -> str | None:
    """Contribute metrics in the Prometheus text exposition format.

    Called: when metrics are asked for (``az metrics``, the server's
    ``/api/metrics``); the host joins every plugin's text
    (:meth:`~az_os.plugins.PluginHost.metrics_text`).
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

    Called: when az creates or rotates a secret of its own
    (``az serve token --rotate``).
    Args: ``name`` - the secret's name, as for :func:`az_get_secret`
    (e.g. ``"AZ_SERVER_TOKEN"``); ``value`` - the secret.
    Returns: ``True`` once stored, or ``None`` if this plugin cannot store
    it (the caller then falls back, e.g. to a 0600 file). Raise an
    :class:`~az_os.errors.AzError` when storing was attempted and failed.
    Kind: firstresult.
    """


@hookspec
def az_secret_names() -> list[str] | None:
    """Name the secrets a plugin's store holds (never their values).

    Called: when az needs to know which names are secrets: ``shell.execute``
    removes variables of these names from a command's environment, and an
    engine fetches each one (through ``az_get_secret``) once at start so
    their values are masked wherever az writes. Keep it cheap: read an
    index, do not unlock a vault.
    Args: none.
    Returns: a list of names (e.g. ``["ANTHROPIC_API_KEY"]``) or ``None``.
    Kind: all.
    """
