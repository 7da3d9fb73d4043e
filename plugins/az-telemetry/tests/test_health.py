"""``az health`` end to end: the real CLI, real psutil readings, a real SQLite
file, real probes of a loopback HTTP server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PLUGINS = "telemetry,sqlite"
#: thresholds no machine reaches: every system check is ok
CALM = {
    "AZ_LOAD_PLUGINS": PLUGINS,
    "AZ_TELEMETRY__CPU_DEGRADED": "100",
    "AZ_TELEMETRY__CPU_UNHEALTHY": "100",
    "AZ_TELEMETRY__MEMORY_DEGRADED": "100",
    "AZ_TELEMETRY__MEMORY_UNHEALTHY": "100",
    "AZ_TELEMETRY__DISK_DEGRADED": "100",
    "AZ_TELEMETRY__DISK_UNHEALTHY": "100",
}


def test_all_ok_exits_0_with_one_line_per_check(az: Any) -> None:
    r = az("health", "--json", env=CALM)
    assert r.returncode == 0, r
    report = r.json()
    assert report["status"] == "ok"
    by = {c["name"]: c for c in report["checks"]}
    assert {"system.cpu", "system.memory", "system.disk", "storage"} <= set(by)
    assert 0 <= by["system.cpu"]["data"]["percent"] <= 100
    assert by["system.memory"]["data"]["total_bytes"] > 0
    assert by["storage"]["status"] == "ok" and "writable" in by["storage"]["detail"]
    assert by["storage"]["data"]["tasks"] == 0  # the write probe leaves nothing behind
    text = az("health", env=CALM)
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[-1] == "overall: ok"
    assert any(line.startswith("ok") and "system.disk" in line for line in lines)


def test_degraded_exits_1_and_unhealthy_exits_2(az: Any) -> None:
    r = az("health", "--json", env={**CALM, "AZ_TELEMETRY__MEMORY_DEGRADED": "0"})
    assert r.returncode == 1, r
    by = {c["name"]: c for c in r.json()["checks"]}
    assert by["system.memory"]["status"] == "degraded"
    assert r.json()["status"] == "degraded"
    r = az(
        "health",
        env={**CALM, "AZ_TELEMETRY__DISK_UNHEALTHY": "0", "AZ_TELEMETRY__DISK_DEGRADED": "0"},
    )
    assert r.returncode == 2, r
    assert "UNHEALTHY" in r.stdout and r.stdout.rstrip().endswith("overall: unhealthy")


def test_thresholds_come_from_config_file(az: Any, az_home: Path) -> None:
    (az_home / "config.toml").write_text("[telemetry]\ncpu_degraded = 0.0\ncpu_unhealthy = 100\n")
    env = {k: v for k, v in CALM.items() if "CPU" not in k}
    r = az("health", "--json", env=env)
    cpu = next(c for c in r.json()["checks"] if c["name"] == "system.cpu")
    # the sample may read exactly 0% on an idle machine: then it is not above 0
    assert cpu["status"] == ("degraded" if cpu["data"]["percent"] > 0 else "ok")
    assert "0/100% limits" in cpu["detail"]


def test_bad_threshold_is_a_one_line_error(az: Any) -> None:
    r = az("health", env={**CALM, "AZ_TELEMETRY__CPU_DEGRADED": "150"})
    assert r.returncode != 0 and r.stdout == ""  # a config error (exit 2: "not healthy" too)
    assert "telemetry.cpu_degraded" in r.stderr and "Traceback" not in r.stderr


def test_unusable_storage_is_unhealthy(az: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = az("health", "--json", env={**CALM, "AZ_STORAGE__PATH": str(blocker / "az.db")})
    by = {c["name"]: c for c in r.json()["checks"]}
    assert by["storage"]["status"] == "unhealthy", by["storage"]
    assert r.returncode == 2


def test_storage_missing_backend_is_unhealthy(az: Any) -> None:
    r = az("health", "--json", env={**CALM, "AZ_STORAGE__BACKEND": "nosuch"})
    by = {c["name"]: c for c in r.json()["checks"]}
    assert by["storage"]["status"] == "unhealthy" and "nosuch" in by["storage"]["detail"]
    assert r.returncode == 2


def _custom_model(home: Path, api_base: str) -> None:
    (home / "config.toml").write_text(
        "[[models.custom]]\n"
        'id = "openai/tiny"\n'
        f'api_base = "{api_base}"\n'
        "input_cost_per_token = 0.000001\n"
        "output_cost_per_token = 0.000002\n"
    )


def test_hosted_provider_is_probed_without_a_model_call(
    az: Any, az_home: Path, http_recorder: Any
) -> None:
    pytest.importorskip("az_litellm")
    _custom_model(az_home, http_recorder.url + "/v1")
    http_recorder.status = 401  # any HTTP answer means the server is there
    r = az("health", "--json", env={**CALM, "AZ_LOAD_PLUGINS": PLUGINS + ",litellm"})
    by = {c["name"]: c for c in r.json()["checks"]}
    assert by["model.openai"]["status"] == "ok", by["model.openai"]
    assert by["model.openai"]["data"]["probed"] == 1
    # exactly one free GET of the base URL; never a completion
    assert [(m, p) for m, p, _ in http_recorder.requests] == [("GET", "/v1")]
    assert r.returncode == 0


def test_unreachable_provider_is_unhealthy(az: Any, az_home: Path) -> None:
    pytest.importorskip("az_litellm")
    from az_os.testservers import free_port

    _custom_model(az_home, f"http://127.0.0.1:{free_port()}/v1")
    r = az("health", "--json", env={**CALM, "AZ_LOAD_PLUGINS": PLUGINS + ",litellm"})
    by = {c["name"]: c for c in r.json()["checks"]}
    assert by["model.openai"]["status"] == "unhealthy"
    assert "unreachable" in by["model.openai"]["detail"]
    assert r.returncode == 2


def test_probes_can_be_turned_off(az: Any, az_home: Path) -> None:
    pytest.importorskip("az_litellm")
    from az_os.testservers import free_port

    _custom_model(az_home, f"http://127.0.0.1:{free_port()}/v1")
    env = {
        **CALM,
        "AZ_LOAD_PLUGINS": PLUGINS + ",litellm",
        "AZ_TELEMETRY__PROBE_PROVIDERS": "false",
    }
    r = az("health", "--json", env=env)
    by = {c["name"]: c for c in r.json()["checks"]}
    assert by["model.openai"]["status"] == "ok" and by["model.openai"]["detail"] == "probes off"


def test_model_without_a_probe_is_ok(az: Any, scripted_env: Any) -> None:
    env = {**CALM, **scripted_env([], plugins=PLUGINS + ",scripted")}
    r = az("health", "--json", env=env)
    by = {c["name"]: c for c in r.json()["checks"]}
    assert by["model.scripted"]["status"] == "ok"
    assert "(no probe)" in by["model.scripted"]["detail"]


def test_other_plugins_checks_are_included(az: Any, scripted_env: Any) -> None:
    pytest.importorskip("az_cost")
    r = az("health", "--json", env={**CALM, "AZ_LOAD_PLUGINS": PLUGINS + ",cost"})
    names = [c["name"] for c in r.json()["checks"]]
    assert "cost.budget" in names and "system.cpu" in names
    json.dumps(r.json())
