"""Alert rules delivered to a real command and a loopback webhook, with their
cooldown; OpenTelemetry spans exported over OTLP/HTTP to a loopback receiver
and decoded with the OTLP protobuf classes."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

CALM = {
    "AZ_LOAD_PLUGINS": "telemetry,sqlite",
    "AZ_TELEMETRY__CPU_DEGRADED": "100",
    "AZ_TELEMETRY__CPU_UNHEALTHY": "100",
    "AZ_TELEMETRY__MEMORY_DEGRADED": "100",
    "AZ_TELEMETRY__MEMORY_UNHEALTHY": "100",
}


def _config(home: Path, webhook: str, out: Path, cooldown: float | None = None) -> None:
    extra = f"cooldown_s = {cooldown}\n" if cooldown is not None else ""
    (home / "config.toml").write_text(
        "[telemetry]\n"
        "disk_degraded = 0.0\n"
        "disk_unhealthy = 0.0\n"
        f'alert_command = "cat > {out}"\n'
        f'alert_webhook = "{webhook}/hook"\n'
        "[[telemetry.alerts]]\n"
        'name = "sick"\n'
        'measure = "unhealthy_checks"\n'
        "above = 0\n" + extra
    )


def test_alert_goes_to_log_command_and_webhook_then_cools_down(
    az: Any, az_home: Path, http_recorder: Any, tmp_path: Path
) -> None:
    out = tmp_path / "alert.json"
    _config(az_home, http_recorder.url, out)
    r = az("health", "--json", env=CALM)
    assert r.returncode == 2, r
    fired = r.json()["alerts"]
    assert [a["name"] for a in fired] == ["sick"] and fired[0]["value"] >= 1
    assert json.loads(out.read_text())["name"] == "sick"
    assert [(m, p) for m, p, _ in http_recorder.requests] == [("POST", "/hook")]
    assert json.loads(http_recorder.requests[0][2])["measure"] == "unhealthy_checks"
    logs = az("log", "show", "--json", env=CALM).json()
    assert any("alert sick" in row["message"] and row["level"] == "warning" for row in logs)
    # within the default 5-minute cooldown: not again
    out.unlink()
    r = az("health", "--json", env=CALM)
    assert r.json()["alerts"] == [] and not out.exists() and len(http_recorder.requests) == 1


def test_cooldown_is_per_rule_and_configurable(
    az: Any, az_home: Path, http_recorder: Any, tmp_path: Path
) -> None:
    _config(az_home, http_recorder.url, tmp_path / "a.json", cooldown=0.5)
    assert len(az("health", "--json", env=CALM).json()["alerts"]) == 1
    time.sleep(0.6)
    assert len(az("health", "--json", env=CALM).json()["alerts"]) == 1
    assert len(http_recorder.requests) == 2


def test_failed_delivery_is_reported_not_fatal(az: Any, az_home: Path, tmp_path: Path) -> None:
    from az_os.testservers import free_port

    _config(az_home, f"http://127.0.0.1:{free_port()}", tmp_path / "a.json")
    r = az("health", "--json", env=CALM)
    assert r.returncode == 2 and len(r.json()["alerts"]) == 1
    assert "webhook" in r.stderr and "failed" in r.stderr


def test_cost_rule_measures_todays_spend(az_home: Path) -> None:
    from az_os.drivers import get_storage
    from az_os.types import CostRecord
    from az_telemetry.alerts import measure

    storage = get_storage()
    storage.add_cost(CostRecord(model="m", cost_usd=1.25))
    storage.add_cost(CostRecord(model="m", cost_usd=0.5))
    assert measure("cost_usd_today") == pytest.approx(1.75)
    assert measure("failure_rate") == 0.0


def test_spans_use_genai_names_and_reach_an_otlp_endpoint(
    az_home: Path, monkeypatch: pytest.MonkeyPatch, http_recorder: Any, tmp_path: Path
) -> None:
    pytest.importorskip("opentelemetry.sdk")
    import az_os.scripted
    from az_os.engine import ExecutionEngine
    from az_os.plugins import get_host
    from az_os.types import Task
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "telemetry,sqlite,tools")
    monkeypatch.setenv("AZ_TELEMETRY__OTLP_ENDPOINT", http_recorder.url)
    host = get_host()
    host.register(az_os.scripted, "scripted")
    az_os.scripted.set_script(
        [{"tool": "filesystem.list", "arguments": {"path": "."}}, {"answer": "done"}]
    )
    task = Task(description="list", workspace=str(tmp_path), approval="auto")
    done = asyncio.run(ExecutionEngine(host=host).execute(task))
    host.unregister("scripted")
    assert done.status.value == "completed"
    spans: dict[str, Any] = {}
    for method, path, body in http_recorder.requests:
        assert (method, path) == ("POST", "/v1/traces")
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans[s.name] = s
    assert {"invoke_agent az", "chat scripted/cheap", "execute_tool filesystem.list"} <= set(spans)

    def attrs(span: Any) -> dict[str, Any]:
        out = {}
        for kv in span.attributes:
            v = kv.value
            out[kv.key] = (
                v.string_value
                or v.int_value
                or v.double_value
                or (
                    [x.string_value for x in v.array_value.values] if v.array_value.values else None
                )
            )
        return out

    root = spans["invoke_agent az"]
    chat = spans["chat scripted/cheap"]
    tool = spans["execute_tool filesystem.list"]
    assert chat.parent_span_id == root.span_id == tool.parent_span_id
    assert chat.trace_id == root.trace_id
    a = attrs(chat)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "scripted"
    assert a["gen_ai.response.model"] == "scripted/cheap"
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert attrs(tool)["gen_ai.tool.name"] == "filesystem.list"
    assert attrs(root)["gen_ai.conversation.id"] == done.id


def test_sdk_not_imported_without_endpoint(
    az_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import subprocess
    import sys

    code = (
        "import asyncio, sys, json\n"
        "import az_os.scripted\n"
        "from az_os.plugins import get_host\n"
        "from az_os.engine import ExecutionEngine\n"
        "from az_os.types import Task\n"
        "h = get_host(); h.register(az_os.scripted, 'scripted')\n"
        "az_os.scripted.set_script([{'answer': 'hi'}])\n"
        f"t = asyncio.run(ExecutionEngine(host=h).execute(Task(description='x', workspace={str(tmp_path)!r})))\n"
        "print(json.dumps([t.status.value, sorted(m for m in sys.modules if m.startswith('opentelemetry'))]))\n"
    )
    env = {**__import__("os").environ, "AZ_LOAD_PLUGINS": "telemetry,sqlite"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    status, otel = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status == "completed" and otel == []
