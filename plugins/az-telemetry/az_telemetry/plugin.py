"""az-telemetry's hooks.

* ``az_health_checks`` - ``system.cpu``, ``system.memory``, ``system.disk``,
  ``storage`` and ``model.<provider>`` (:mod:`az_telemetry.health`);
* ``az_task_event``, ``az_after_model_call``, ``az_after_tool_call`` -
  metrics of this process, OpenTelemetry spans when configured, alert rules
  checked when a task ends;
* ``az_metrics`` - everything as Prometheus text (:mod:`az_telemetry.metrics`),
  which the server's ``/api/metrics`` serves without importing this plugin.

``az health`` and ``az metrics`` are declared in :mod:`az_telemetry.commandlist`.

Importing this module costs only the kernel: psutil, prometheus_client and
OpenTelemetry are imported by the functions that use them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import (
        ModelRequest,
        ModelResponse,
        Task,
        TaskEvent,
        ToolCall,
        ToolResult,
        Usage,
    )

log = logging.getLogger("az.telemetry")

_FINISHED = frozenset({"completed", "failed", "cancelled", "interrupted"})


@hookimpl
def az_health_checks(register: Callable[..., None]) -> None:
    """System, storage and model-provider checks (thresholds from ``[telemetry]``)."""
    from az_telemetry.health import telemetry_checks

    for name, check in telemetry_checks().items():
        register(name, check)


@hookimpl
def az_task_event(task: Task, event: TaskEvent) -> None:
    """Count the event; open/close the task's span; check alert rules when a task ends."""
    from az_telemetry import otel
    from az_telemetry.metrics import RECORDER

    RECORDER.task_event(task.id, event.type)
    if event.type in ("started", "resumed"):
        otel.task_started(task)
    elif event.type in _FINISHED:
        otel.task_finished(task, event.type)
        _alerts()


def _alerts() -> None:
    from az_os.config import current_config

    from az_telemetry.settings import load_settings

    config = current_config()
    settings = load_settings(config)
    if settings.alerts:
        from az_telemetry.alerts import evaluate

        evaluate(settings, config.home)


@hookimpl
def az_after_model_call(
    task: Task, request: ModelRequest, response: ModelResponse, usage: Usage
) -> None:
    """Count the call's tokens, USD and duration; a span when traces are on."""
    from az_telemetry import otel
    from az_telemetry.metrics import RECORDER

    RECORDER.model_call(
        response.model,
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cost_usd,
        response.duration_ms / 1000,
    )
    otel.model_call(task, request, response, usage)


@hookimpl
def az_after_tool_call(task: Task, call: ToolCall, result: ToolResult) -> None:
    """Count the call by tool and outcome, with its duration; a span when traces are on."""
    from az_telemetry import otel
    from az_telemetry.metrics import RECORDER

    RECORDER.tool_call(call.name, result.success, result.duration_ms / 1000)
    otel.tool_call(task, call, result)


@hookimpl
def az_metrics() -> Any:
    """System, storage and this process's metrics as Prometheus text."""
    from az_telemetry.metrics import exposition

    return exposition()
