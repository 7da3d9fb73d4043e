"""Metrics from real task runs: the engine, the scripted model plugin, the real
tools and a real SQLite file; the Prometheus text parsed back with
prometheus_client's own parser."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest


def _families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fams: dict[str, Any], sample: str, **labels: str) -> float:
    for fam in fams.values():
        for s in fam.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {sample}{labels}")


@pytest.fixture
def host(az_home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import az_os.scripted
    from az_os.plugins import get_host
    from az_telemetry.metrics import RECORDER

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "telemetry,sqlite,tools")
    RECORDER.reset()
    h = get_host()
    h.register(az_os.scripted, "scripted")
    yield h
    h.unregister("scripted")


def _run(host: Any, steps: list[dict[str, Any]], workspace: Path, **task: Any) -> Any:
    import az_os.scripted
    from az_os.engine import ExecutionEngine
    from az_os.types import Task

    az_os.scripted.set_script(steps)
    engine = ExecutionEngine(host=host)
    t = Task(description="count files", workspace=str(workspace), approval="auto", **task)
    return asyncio.run(engine.execute(t))


def test_task_runs_become_metrics(host: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    done = _run(
        host,
        [
            {"tool": "filesystem.list", "arguments": {"path": "."}},
            {"tool": "filesystem.read", "arguments": {"path": "missing.txt"}},
            {"answer": "one file"},
        ],
        tmp_path,
    )
    assert done.status.value == "completed"

    fams = _families(host.metrics_text())
    assert _value(fams, "az_tasks", status="completed") == 1
    assert _value(fams, "az_tool_calls_total", tool="filesystem.list", outcome="success") == 1
    assert _value(fams, "az_tool_calls_total", tool="filesystem.read", outcome="error") == 1
    assert _value(fams, "az_turns_total") == 3
    assert _value(fams, "az_model_calls_total", model="scripted/cheap") == 3
    prompt = _value(fams, "az_model_tokens_total", model="scripted/cheap", kind="prompt")
    assert prompt == done.prompt_tokens > 0
    usd = _value(fams, "az_model_cost_usd_total", model="scripted/cheap")
    assert usd == pytest.approx(done.cost_usd)
    assert _value(fams, "az_task_duration_seconds_count", status="completed") == 1
    assert _value(fams, "az_model_call_duration_seconds_count", model="scripted/cheap") == 3
    assert _value(fams, "az_task_events_total", type="started") == 1
    assert 0 <= _value(fams, "az_system_cpu_percent") <= 100
    assert _value(fams, "az_system_disk_free_bytes") > 0
    assert fams["az_task_duration_seconds"].type == "histogram"


def test_az_metrics_prints_prometheus_text(az: Any) -> None:
    r = az("metrics", env={"AZ_LOAD_PLUGINS": "telemetry,sqlite"})
    assert r.returncode == 0, r
    fams = _families(r.stdout)
    assert {"az_system_cpu_percent", "az_system_memory_percent", "az_tasks"} <= set(fams)
    assert _value(fams, "az_tasks", status="pending") == 0


def test_recording_never_imports_prometheus_client(
    az: Any, scripted_env: Any, tmp_path: Path
) -> None:
    """A task run pays for counting, not for the exposition library or OpenTelemetry."""
    import json
    import subprocess
    import sys

    env = dict(__import__("os").environ)
    env.update(
        scripted_env(
            [{"tool": "filesystem.list", "arguments": {"path": "."}}, {"answer": "x"}],
            plugins="telemetry,sqlite,tools,scripted",
        )
    )
    script = (
        "import sys, json\n"
        "from az_os.cli import main\n"
        "try:\n"
        f"    main(['task', 'run', 'list', '--workspace', {str(tmp_path)!r}, '--approve', 'auto'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.__stderr__.write(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "az_telemetry.metrics" in loaded  # the plugin did record
    assert not {m for m in loaded if m.startswith(("prometheus_client", "opentelemetry"))}
