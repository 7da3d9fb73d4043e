"""Metrics: system gauges, task counts from storage, and what this process
saw happen (task events, model calls, tool calls), in the Prometheus text
format (``prometheus_client``).

Recording (:class:`Recorder`, called by the hooks on every model and tool
call) uses plain dicts and a lock, so a task run never imports
``prometheus_client``; it is imported only when the text is produced.

Names (all prefixed ``az_``):

=================================== ========= ====================================
name                                 type      labels / source
=================================== ========= ====================================
az_system_cpu_percent                gauge     psutil, 0-100
az_system_memory_percent             gauge     psutil, 0-100
az_system_disk_percent               gauge     disk holding the az home, 0-100
az_system_disk_free_bytes            gauge
az_system_load_average               gauge     period=1m|5m|15m
az_tasks                             gauge     status; storage (every task stored)
az_cost_recorded_usd                 gauge     model; storage cost rows (az-cost)
az_tokens_recorded                   gauge     model, kind=prompt|completion; cost rows
az_task_events_total                 counter   type; this process
az_turns_total                       counter   this process
az_tool_calls_total                  counter   tool, outcome=success|error; this process
az_model_calls_total                 counter   model; this process
az_model_tokens_total                counter   model, kind=prompt|completion; this process
az_model_cost_usd_total              counter   model; this process, USD
az_task_duration_seconds             histogram status; started → finished, this process
az_model_call_duration_seconds       histogram model; this process
az_tool_call_duration_seconds        histogram tool; this process
=================================== ========= ====================================
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

#: histogram bucket upper bounds, seconds
TASK_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Histogram:
    """Bucket counts and a sum, per label tuple."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        row = self.series.get(labels)
        if row is None:
            row = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        row[bisect.bisect_left(self.buckets, value)] += 1  # last slot but one: +Inf
        row[-1] += value

    def families(self, labels: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
        for key, row in sorted(self.series.items()):
            cumulative, out = 0.0, []
            for bound, count in zip([*self.buckets, float("inf")], row[:-1], strict=True):
                cumulative += count
                out.append((_bound(bound), cumulative))
            yield key, [out, row[-1]]


def _bound(b: float) -> str:
    return "+Inf" if b == float("inf") else repr(float(b))


class Recorder:
    """What this process saw: counters and histograms fed by the hooks.
    Thread-safe; recording costs a few microseconds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, float] = defaultdict(float)
        self.turns = 0.0
        self.tool_calls: dict[tuple[str, str], float] = defaultdict(float)
        self.model_calls: dict[str, float] = defaultdict(float)
        self.tokens: dict[tuple[str, str], float] = defaultdict(float)
        self.cost: dict[str, float] = defaultdict(float)
        self.task_duration = _Histogram(TASK_BUCKETS)
        self.model_duration = _Histogram(CALL_BUCKETS)
        self.tool_duration = _Histogram(CALL_BUCKETS)
        #: task id -> monotonic start, for task durations
        self.started: dict[str, float] = {}

    def task_event(self, task_id: str, type_: str) -> None:
        with self.lock:
            self.events[type_] += 1
            if type_ == "turn":
                self.turns += 1
            elif type_ in ("started", "resumed"):
                self.started[task_id] = time.monotonic()
            elif type_ in ("completed", "failed", "cancelled", "interrupted"):
                start = self.started.pop(task_id, None)
                if start is not None:
                    self.task_duration.observe((type_,), time.monotonic() - start)

    def model_call(
        self, model: str, prompt: int, completion: int, cost_usd: float, seconds: float
    ) -> None:
        with self.lock:
            self.model_calls[model] += 1
            self.tokens[(model, "prompt")] += prompt
            self.tokens[(model, "completion")] += completion
            self.cost[model] += cost_usd
            self.model_duration.observe((model,), seconds)

    def tool_call(self, tool: str, success: bool, seconds: float) -> None:
        with self.lock:
            self.tool_calls[(tool, "success" if success else "error")] += 1
            self.tool_duration.observe((tool,), seconds)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


RECORDER = Recorder()


def _system() -> Iterable[Any]:
    import os

    import psutil
    from az_os.config import current_config
    from prometheus_client.core import GaugeMetricFamily

    from az_telemetry.health import _existing, cpu_percent
    from az_telemetry.settings import load_settings

    config = current_config()
    settings = load_settings(config)
    cpu = GaugeMetricFamily("az_system_cpu_percent", "System-wide CPU use, percent.")
    cpu.add_metric([], cpu_percent(settings.cpu_sample_s))
    yield cpu
    mem = GaugeMetricFamily("az_system_memory_percent", "Memory in use, percent.")
    mem.add_metric([], psutil.virtual_memory().percent)
    yield mem
    du = psutil.disk_usage(str(_existing(config.home)))
    disk = GaugeMetricFamily("az_system_disk_percent", "Disk holding the az home, percent used.")
    disk.add_metric([], du.percent)
    yield disk
    free = GaugeMetricFamily("az_system_disk_free_bytes", "Free bytes on the az home's disk.")
    free.add_metric([], du.free)
    yield free
    if hasattr(os, "getloadavg"):
        load = GaugeMetricFamily(
            "az_system_load_average", "Run-queue load average.", labels=["period"]
        )
        for period, value in zip(("1m", "5m", "15m"), os.getloadavg(), strict=True):
            load.add_metric([period], value)
        yield load


def _storage() -> Iterable[Any]:
    from az_os.config import current_config
    from az_os.drivers import get_storage
    from az_os.types import TaskStatus
    from prometheus_client.core import GaugeMetricFamily

    try:
        storage = get_storage(current_config())
    except Exception:  # noqa: BLE001 - no storage backend: no storage metrics
        return
    tasks = GaugeMetricFamily("az_tasks", "Tasks stored, by status.", labels=["status"])
    for status in TaskStatus:
        tasks.add_metric([status.value], storage.count_tasks(status=status))
    yield tasks
    cost = GaugeMetricFamily(
        "az_cost_recorded_usd", "USD recorded in cost rows, by model.", labels=["model"]
    )
    tokens = GaugeMetricFamily(
        "az_tokens_recorded", "Tokens recorded in cost rows.", labels=["model", "kind"]
    )
    by_model: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for row in storage.list_costs():
        acc = by_model[row.model]
        acc[0] += row.cost_usd
        acc[1] += row.input_tokens
        acc[2] += row.output_tokens
    for model, (usd, inp, out) in sorted(by_model.items()):
        cost.add_metric([model], usd)
        tokens.add_metric([model, "prompt"], inp)
        tokens.add_metric([model, "completion"], out)
    yield cost
    yield tokens


def _process(rec: Recorder) -> Iterable[Any]:
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    with rec.lock:
        events = CounterMetricFamily(
            "az_task_events", "Task lifecycle events seen by this process.", labels=["type"]
        )
        for k, v in sorted(rec.events.items()):
            events.add_metric([k], v)
        turns = CounterMetricFamily("az_turns", "ReAct turns completed in this process.")
        turns.add_metric([], rec.turns)
        tools = CounterMetricFamily(
            "az_tool_calls", "Tool calls by tool and outcome.", labels=["tool", "outcome"]
        )
        for (tool, outcome), v in sorted(rec.tool_calls.items()):
            tools.add_metric([tool, outcome], v)
        calls = CounterMetricFamily("az_model_calls", "Model calls by model.", labels=["model"])
        for m, v in sorted(rec.model_calls.items()):
            calls.add_metric([m], v)
        tok = CounterMetricFamily(
            "az_model_tokens", "Model tokens by model and kind.", labels=["model", "kind"]
        )
        for (m, kind), v in sorted(rec.tokens.items()):
            tok.add_metric([m, kind], v)
        usd = CounterMetricFamily("az_model_cost_usd", "USD of model calls.", labels=["model"])
        for m, v in sorted(rec.cost.items()):
            usd.add_metric([m], v)
        out: list[Any] = [events, turns, tools, calls, tok, usd]
        for name, doc, label, hist in (
            ("az_task_duration_seconds", "Task run time by final status.", "status",
             rec.task_duration),
            ("az_model_call_duration_seconds", "Model call time.", "model", rec.model_duration),
            ("az_tool_call_duration_seconds", "Tool call time.", "tool", rec.tool_duration),
        ):  # fmt: skip
            fam = HistogramMetricFamily(name, doc, labels=[label])
            for key, (buckets, total) in hist.families((label,)):
                fam.add_metric(list(key), buckets, total)
            out.append(fam)
    return out


class _Collector:
    def __init__(self, parts: Iterable[str]) -> None:
        self.parts = set(parts)

    def collect(self) -> Iterator[Any]:
        if "system" in self.parts:
            yield from _system()
        if "storage" in self.parts:
            yield from _storage()
        if "process" in self.parts:
            yield from _process(RECORDER)


def exposition(parts: Iterable[str] = ("system", "storage", "process")) -> str:
    """The metrics as Prometheus text (exposition format 0.0.4)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(parts))
    return generate_latest(registry).decode("utf-8")
