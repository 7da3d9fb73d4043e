"""OpenTelemetry traces, on only when ``[telemetry] otlp_endpoint`` is set.

A span per task (``invoke_agent az``), per model call (``chat MODEL``) and
per tool call (``execute_tool TOOL``), children of their task's span, with
the GenAI semantic-convention attribute names (``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``,
``gen_ai.response.finish_reasons``, ``gen_ai.tool.name``,
``gen_ai.tool.call.id``, ``gen_ai.conversation.id``), exported over
OTLP/HTTP to ``<otlp_endpoint>/v1/traces``.

The OpenTelemetry SDK (``pip install 'az-telemetry[otlp]'``) is imported
the first time a span is made with the endpoint set, never otherwise.
Model and tool spans are recorded when the call has finished (the hooks run
then), with the start time set back by the call's duration.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import ModelRequest, ModelResponse, Task, ToolCall, ToolResult, Usage

log = logging.getLogger("az.telemetry")

_lock = threading.Lock()
#: endpoint -> (tracer provider, tracer); None when the SDK is missing
_tracers: dict[str, Any] = {}
#: task id -> open task span
_task_spans: dict[str, Any] = {}


def endpoint() -> str | None:
    """``[telemetry] otlp_endpoint`` from the config in force (``None``: off)."""
    try:
        from az_telemetry.settings import load_settings

        return load_settings().otlp_endpoint
    except Exception:  # noqa: BLE001 - a bad config is reported by the commands, not here
        return None


def _tracer(url: str) -> Any:
    with _lock:
        if url in _tracers:
            return _tracers[url]
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            from az_telemetry.settings import load_settings
        except ImportError:
            log.warning(
                "telemetry.otlp_endpoint is set but the OpenTelemetry SDK is not installed: "
                "pip install 'az-telemetry[otlp]'"
            )
            _tracers[url] = None
            return None
        name = load_settings().otlp_service_name
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        exporter = OTLPSpanExporter(endpoint=url.rstrip("/") + "/v1/traces", timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
        _tracers[url] = (provider, provider.get_tracer("az_telemetry"))
        return _tracers[url]


def _current() -> Any:
    url = endpoint()
    if not url:
        return None
    return _tracer(url)


def task_started(task: Task) -> None:
    pair = _current()
    if pair is None:
        return
    span = pair[1].start_span(
        "invoke_agent az",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "az",
            "gen_ai.conversation.id": task.id,
            "az.task.priority": task.priority.value,
        },
    )
    with _lock:
        _task_spans[task.id] = span


def task_finished(task: Task, status: str) -> None:
    with _lock:
        span = _task_spans.pop(task.id, None)
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("az.task.status", status)
    span.set_attribute("gen_ai.usage.input_tokens", task.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", task.completion_tokens)
    span.set_attribute("az.cost_usd", task.cost_usd)
    if status != "completed":
        span.set_status(Status(StatusCode.ERROR, task.error or status))
    span.end()
    pair = _current()
    if pair is not None:
        pair[0].force_flush(timeout_millis=5000)  # a CLI process may exit right after


def _child(task: Task, name: str, seconds: float, attributes: dict[str, Any]) -> Any:
    pair = _current()
    if pair is None:
        return None
    from opentelemetry import trace

    with _lock:
        parent = _task_spans.get(task.id)
    ctx = trace.set_span_in_context(parent) if parent is not None else None
    start = time.time_ns() - int(seconds * 1e9)
    return pair[1].start_span(name, context=ctx, start_time=start, attributes=attributes)


def model_call(task: Task, request: ModelRequest, response: ModelResponse, usage: Usage) -> None:
    model = response.model
    span = _child(
        task,
        f"chat {model}",
        response.duration_ms / 1000,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.split("/", 1)[0] if "/" in model else "unknown",
            "gen_ai.request.model": task.model or model,
            "gen_ai.response.model": model,
            "gen_ai.request.max_tokens": request.max_tokens,
            "gen_ai.request.temperature": request.temperature,
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
            "gen_ai.response.finish_reasons": [response.finish_reason or "unknown"],
            "gen_ai.conversation.id": task.id,
            "az.cost_usd": usage.cost_usd,
        },
    )
    if span is not None:
        span.end()


def tool_call(task: Task, call: ToolCall, result: ToolResult) -> None:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
        "gen_ai.conversation.id": task.id,
    }
    if not result.success:
        attrs["error.type"] = "tool_error"
    span = _child(task, f"execute_tool {call.name}", result.duration_ms / 1000, attrs)
    if span is not None:
        if not result.success:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, (result.error or "")[:200]))
        span.end()
