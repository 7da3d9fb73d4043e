"""Hooks that the engine tests do not reach, called through the real plugin host."""

from __future__ import annotations

import types

import pytest
from az_os import hookimpl
from az_os.config import load_config
from az_os.plugins import PluginHost
from az_os.types import HealthResult, Task


def make_plugin(**hooks):  # type: ignore[no-untyped-def]
    mod = types.ModuleType("inline_plugin")
    for name, fn in hooks.items():
        fn.__name__ = name
        setattr(mod, name, hookimpl(fn))
    return mod


@pytest.fixture
def host(az_home):  # type: ignore[no-untyped-def]
    return PluginHost().load(warn=lambda msg: None)


def test_az_configure_is_historic(host, az_home):
    seen = []
    host.configure(load_config())
    # registered after the call: still configured, with the same config
    host.register(
        make_plugin(az_configure=lambda config: seen.append(config.agent.max_turns)), "late"
    )
    assert seen == [5]


def test_az_health_checks_collects_named_checks(host):
    def az_health_checks(register):
        register("disk", lambda: HealthResult(name="disk", status="degraded", detail="91% used"))

    host.register(make_plugin(az_health_checks=az_health_checks), "health")
    checks = host.health_checks()
    assert "disk" in checks  # installed plugins may add their own checks next to it
    assert checks["disk"]().status == "degraded"


def test_az_get_secret_environment_first_then_plugins(host, monkeypatch):
    host.register(
        make_plugin(az_get_secret=lambda name: f"vault-{name}" if name == "X_KEY" else None),
        "vault",
    )
    monkeypatch.delenv("X_KEY", raising=False)
    assert host.get_secret("X_KEY") == "vault-X_KEY"
    assert host.get_secret("OTHER_KEY") is None
    monkeypatch.setenv("X_KEY", "from-env")
    assert host.get_secret("X_KEY") == "from-env"


def test_az_context_failing_plugin_does_not_hide_others(host):
    def broken(task, query):
        raise RuntimeError("index missing")

    host.register(make_plugin(az_context=broken), "broken-context")
    host.register(make_plugin(az_context=lambda query: [f"lesson about {query}", ""]), "memory")
    host.register(make_plugin(az_context=lambda task: "project readme"), "rag")
    snippets = host.context(task=Task(description="tests"), query="tests")
    assert sorted(snippets) == ["lesson about tests", "project readme"]


def test_az_task_event_failure_is_isolated(host):
    seen = []

    def az_task_event(task, event):
        seen.append(event.type)

    def broken(task, event):
        raise ValueError("nope")

    host.register(make_plugin(az_task_event=broken), "broken-events")
    host.register(make_plugin(az_task_event=az_task_event), "events")
    from az_os.types import TaskEvent

    t = Task(description="x")
    host.task_event(task=t, event=TaskEvent(type="started", task_id=t.id))
    assert seen == ["started"]


def test_model_cost_formula_tiers_and_cache_writes():
    """ModelInfo.cost follows LiteLLM's cost_per_token: the whole call at the
    tier price above the threshold; cache reads and writes at their prices."""
    from az_os.types import ModelInfo

    info = ModelInfo(
        id="x/tiered",
        provider="x",
        input_cost_per_token=1e-6,
        output_cost_per_token=2e-6,
        cache_read_cost_per_token=1e-7,
        cache_write_cost_per_token=1.25e-6,
        tier_threshold_tokens=1000,
        input_cost_per_token_above_tier=3e-6,
        output_cost_per_token_above_tier=4e-6,
    )
    assert info.cost(1000, 10) == pytest.approx(1000 * 1e-6 + 10 * 2e-6)
    assert info.cost(1001, 10) == pytest.approx(1001 * 3e-6 + 10 * 4e-6)
    # 600 prompt tokens: 100 read from the cache, 200 written to it, 300 plain
    assert info.cost(600, 0, cached_tokens=100, cache_write_tokens=200) == pytest.approx(
        300 * 1e-6 + 100 * 1e-7 + 200 * 1.25e-6
    )


def test_az_configure_runs_when_the_config_is_first_loaded(host, monkeypatch):
    """Loading the config configures the process-wide host once; a command
    that never reads the config (az --help, az plugins list) pays nothing."""
    from az_os import plugins

    seen = []
    monkeypatch.setattr(plugins, "_host", host)
    host.register(
        make_plugin(az_configure=lambda config: seen.append(config.agent.max_turns)), "cfg"
    )
    assert seen == []
    load_config()
    load_config()
    assert seen == [5]


def test_current_config_follows_every_change_and_reuses_an_unchanged_one(az_home, monkeypatch):
    from az_os.config import current_config, set_value

    first = current_config()
    assert current_config() is first  # nothing changed: no second parse
    set_value("agent.max_turns", 7)
    set_value("agent.max_turns", 8)  # same size, same mtime tick: still seen
    assert current_config().agent.max_turns == 8
    (az_home / "config.toml").write_text("[agent]\nmax_turns = 12\n")  # edited by hand
    assert current_config().agent.max_turns == 12
    monkeypatch.setenv("AZ_AGENT__MAX_TURNS", "3")
    assert current_config().agent.max_turns == 3


def test_hook_az_metrics(host):
    text = "# HELP az_widgets_total Widgets.\n# TYPE az_widgets_total counter\naz_widgets_total 3\n"
    host.register(make_plugin(az_metrics=lambda: text), "widgets")
    host.register(make_plugin(az_metrics=lambda: None), "nothing")

    def broken():
        raise RuntimeError("collector down")

    host.register(make_plugin(az_metrics=broken), "broken")
    out = host.metrics_text()
    assert "az_widgets_total 3\n" in out  # installed plugins may add their own metrics
    assert out.endswith("\n") and "collector down" not in out


def test_hook_az_set_secret(host):
    stored = {}

    def az_set_secret(name, value):
        if name.startswith("AZ_"):
            stored[name] = value
            return True
        return None

    host.register(make_plugin(az_set_secret=az_set_secret), "vault")
    assert host.set_secret("AZ_SERVER_TOKEN", "s3cret") is True
    assert stored == {"AZ_SERVER_TOKEN": "s3cret"}
    assert host.set_secret("OTHER", "x") is False


def test_health_run_checks_folds_the_worst_and_bounds_time():
    import time

    from az_os.health import EXIT_CODES, report, run_checks

    def slow():
        time.sleep(2)
        return HealthResult(name="slow", status="ok")

    def broken():
        raise OSError("disk gone")

    checks = {
        "fine": lambda: HealthResult(name="fine", status="ok", detail="1% used"),
        "meh": lambda: {"name": "meh", "status": "degraded", "detail": "80% used"},
        "broken": broken,
        "slow": slow,
    }
    start = time.perf_counter()
    status, results = run_checks(checks, timeout_s=0.3)
    assert time.perf_counter() - start < 1.0
    assert status == "unhealthy" and EXIT_CODES[status] == 2
    by = {r.name: r for r in results}
    assert [r.name for r in results] == ["fine", "meh", "broken", "slow"]
    assert by["meh"].status == "degraded"
    assert by["broken"].status == "unhealthy" and "disk gone" in by["broken"].detail
    assert by["slow"].status == "unhealthy" and "0.3 s" in by["slow"].detail
    assert run_checks({"meh": checks["meh"]})[0] == "degraded"
    assert run_checks({}) == ("ok", [])
    assert report(status, results)["checks"][0]["detail"] == "1% used"


def test_hook_az_secret_names(host, monkeypatch):
    host.register(make_plugin(az_secret_names=lambda: ["B_TOKEN", "A_KEY"]), "store-1")
    host.register(make_plugin(az_secret_names=lambda: ["A_KEY", "C"]), "store-2")

    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("index unreadable")

    host.register(make_plugin(az_secret_names=broken), "store-3")
    assert [n for n in host.secret_names() if n in {"A_KEY", "B_TOKEN", "C"}] == [
        "A_KEY",
        "B_TOKEN",
        "C",
    ]


def test_get_secret_values_are_masked_from_then_on(host, monkeypatch):
    from az_os.redact import redact_text

    value = "vault-value-0123456789"
    host.register(
        make_plugin(az_get_secret=lambda name: value if name == "VAULTED" else None), "vault"
    )
    monkeypatch.delenv("VAULTED", raising=False)
    assert value in redact_text(f"x {value} y")  # not known yet
    assert host.get_secret("VAULTED") == value
    assert redact_text(f"x {value} y") == "x ****6789 y"
