"""Hooks that the engine tests do not reach, called through the real plugin host."""

from __future__ import annotations

import types

import pytest
from az_os import hookimpl
from az_os.config import load_config
from az_os.plugins import PluginHost
from az_os.tools import Tool
from az_os.types import HealthResult, Message, ModelRequest, Task, ToolResult, ToolSpec


def make_plugin(**hooks):  # type: ignore[no-untyped-def]
    mod = types.ModuleType("inline_plugin")
    for name, fn in hooks.items():
        fn.__name__ = name
        setattr(mod, name, hookimpl(fn))
    return mod


@pytest.fixture
def host(az_home):  # type: ignore[no-untyped-def]
    return PluginHost().load(warn=lambda msg: None)


@pytest.fixture
def bare(az_home):  # type: ignore[no-untyped-def]
    """A host with only the plugins a test registers (no installed ones)."""
    return PluginHost()


def test_hook_az_configure(host, az_home):
    """Historic: a plugin registered after the call is configured on registration."""
    seen = []
    host.configure(load_config())
    # registered after the call: still configured, with the same config
    host.register(
        make_plugin(az_configure=lambda config: seen.append(config.agent.max_turns)), "late"
    )
    assert seen == [5]


def test_hook_az_health_checks(host):
    def az_health_checks(register):
        register("disk", lambda: HealthResult(name="disk", status="degraded", detail="91% used"))

    host.register(make_plugin(az_health_checks=az_health_checks), "health")
    checks = host.health_checks()
    assert "disk" in checks  # installed plugins may add their own checks next to it
    assert checks["disk"]().status == "degraded"


def test_hook_az_get_secret(host, monkeypatch):
    """The environment first, then plugins."""
    host.register(
        make_plugin(az_get_secret=lambda name: f"vault-{name}" if name == "X_KEY" else None),
        "vault",
    )
    monkeypatch.delenv("X_KEY", raising=False)
    assert host.get_secret("X_KEY") == "vault-X_KEY"
    assert host.get_secret("OTHER_KEY") is None
    monkeypatch.setenv("X_KEY", "from-env")
    assert host.get_secret("X_KEY") == "from-env"


def test_hook_az_context(bare):
    """A failing plugin does not hide the others' snippets. (Only these
    plugins: installed ones such as az-rag and az-memory add their own.)"""

    def broken(task, query):
        raise RuntimeError("index missing")

    bare.register(make_plugin(az_context=broken), "broken-context")
    bare.register(make_plugin(az_context=lambda query: [f"lesson about {query}", ""]), "lessons")
    bare.register(make_plugin(az_context=lambda task: "project readme"), "readme")
    snippets = bare.context(task=Task(description="tests"), query="tests")
    assert sorted(snippets) == ["lesson about tests", "project readme"]


def test_hook_az_task_event(host):
    """A failing plugin does not stop the others seeing the event."""
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


def test_get_host_configures_the_host_it_loads(az_home, monkeypatch):
    """Whoever loads the process-wide host gives it the config; reading the
    config alone calls no plugin (config knows nothing of the host)."""
    from az_os import plugins

    monkeypatch.setenv("AZ_AGENT__MAX_TURNS", "9")
    plugins.reset_host()
    load_config()
    assert plugins._host is None
    host = plugins.get_host(lambda msg: None)
    assert host.configured
    seen = []
    host.register(make_plugin(az_configure=lambda config: seen.append(config.agent.max_turns)), "c")
    assert seen == [9]
    plugins.reset_host()


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


# -- one test per hook not covered above ---------------------------------------
class _Tool(Tool):
    def __init__(self, name: str) -> None:
        self.spec = ToolSpec(name=name, description="test tool")

    def run(self, arguments, ctx):  # type: ignore[no-untyped-def]
        return ToolResult(success=True, output="ok")


def test_hook_az_register_commands(bare):
    host = bare
    import typer

    def az_register_commands(app):
        @app.command("hello")
        def hello() -> None:
            """Say hello."""

    def broken(app):
        raise RuntimeError("no typer here")

    host.register(make_plugin(az_register_commands=az_register_commands), "hello-plugin")
    host.register(make_plugin(az_register_commands=broken), "broken-commands")
    app = typer.Typer()
    warnings: list[str] = []
    host.register_commands(app, warn=warnings.append)
    assert [c.name for c in app.registered_commands] == ["hello"]
    assert warnings == [
        "plugin 'broken-commands' could not add its commands: RuntimeError: no typer here"
    ]
    [record] = [r for r in host.plugins() if r.name == "broken-commands"]
    assert record.status == "failed"


def test_hook_az_register_models(host):
    import az_os.scripted

    def broken(register):
        raise RuntimeError("provider SDK missing")

    host.register(make_plugin(az_register_models=broken), "broken-models")
    host.register(az_os.scripted, "scripted")
    models = host.models()
    assert models["scripted/cheap"].info.plugin == "scripted"  # who registered it
    assert host.find_model("cheap") is models["scripted/cheap"]


def test_hook_az_register_tools(bare):
    bare.register(make_plugin(az_register_tools=lambda register: register(_Tool("t.one"))), "one")
    bare.register(make_plugin(az_register_tools=lambda register: register(_Tool("t.one"))), "dup")
    bare.register(make_plugin(az_register_tools=lambda register: 1 / 0), "broken")
    tools = bare.tools()
    # pluggy calls the plugin registered last first; a name keeps its first registration
    assert list(tools) == ["t.one"] and tools["t.one"].spec.plugin == "dup"


def test_hook_az_route(bare):
    import az_os.scripted

    host = bare
    host.register(az_os.scripted, "scripted")
    cheap, premium = host.find_model("cheap"), host.find_model("premium")
    task, request = (
        Task(description="x"),
        ModelRequest(messages=[Message(role="user", content="hi")]),
    )
    host.register(make_plugin(az_route=lambda candidates: None), "abstains")
    assert host.route(task, request, [cheap, premium]) is None
    host.register(make_plugin(az_route=lambda candidates: candidates[-1]), "picks-last")
    assert host.route(task, request, [cheap, premium]) is premium
    # a broken router is not hidden: the engine reports it
    host.register(make_plugin(az_route=lambda task: 1 / 0), "broken-router")
    with pytest.raises(ZeroDivisionError):
        host.route(task, request, [cheap, premium])


def test_hook_az_before_model_call(host):
    import az_os.scripted
    from az_os.errors import BudgetExceededError

    host.register(az_os.scripted, "scripted")
    model = host.find_model("cheap")
    task, request = Task(description="x"), ModelRequest(messages=[])
    seen = []
    host.register(make_plugin(az_before_model_call=lambda model: seen.append(model.info.id)), "w")
    host.before_model_call(task, request, model)
    assert seen == ["scripted/cheap"]

    def veto(task):
        raise BudgetExceededError("over budget")

    host.register(make_plugin(az_before_model_call=veto), "budget")
    with pytest.raises(BudgetExceededError):  # a veto reaches the engine
        host.before_model_call(task, request, model)


def test_hook_az_after_model_call(host):
    from az_os.types import ModelResponse, Usage

    seen = []
    host.register(make_plugin(az_after_model_call=lambda usage: 1 / 0), "broken")
    host.register(
        make_plugin(az_after_model_call=lambda usage: seen.append(usage.prompt_tokens)), "c"
    )
    response = ModelResponse(model="m", message=Message(role="assistant", content="hi"))
    host.after_model_call(
        Task(description="x"), ModelRequest(messages=[]), response, Usage(prompt_tokens=3)
    )
    assert seen == [3]


def test_hook_az_before_tool_call(bare):
    host = bare
    from az_os.errors import ToolRefusedError
    from az_os.types import ToolCall

    def refuse(call):
        if call.name == "shell.execute":
            raise ToolRefusedError("no shell")

    host.register(make_plugin(az_before_tool_call=refuse), "policy")
    task, tool = Task(description="x"), _Tool("t")
    host.before_tool_call(task, ToolCall(name="filesystem.read", arguments={}), tool)
    with pytest.raises(ToolRefusedError, match="no shell"):
        host.before_tool_call(task, ToolCall(name="shell.execute", arguments={}), tool)


def test_hook_az_after_tool_call(host):
    from az_os.types import ToolCall

    seen = []
    host.register(
        make_plugin(
            az_after_tool_call=lambda call, result: seen.append((call.name, result.success))
        ),
        "a",
    )
    host.register(make_plugin(az_after_tool_call=lambda result: result.nope), "broken")
    host.after_tool_call(
        Task(description="x"), ToolCall(name="t", arguments={}), ToolResult(success=True)
    )
    assert seen == [("t", True)]


# -- wrappers, ordering and tracing: every hook goes through pluggy's loop ------
class ContextWrapper:
    """A new-style wrapper on an 'all' hook: sees (and changes) the results,
    including when an inner implementation failed."""

    @hookimpl(wrapper=True)
    def az_context(self, task, query):  # type: ignore[no-untyped-def]
        results = yield
        return [*results, f"wrapped {len(results)}"]


class OldStyleContextWrapper:
    @hookimpl(hookwrapper=True)
    def az_context(self, task, query):  # type: ignore[no-untyped-def]
        outcome = yield
        outcome.force_result([*outcome.get_result(), "old-style"])


def test_wrapper_on_an_all_hook_sees_results_of_isolated_failures(bare):
    bare.register(make_plugin(az_context=lambda query: 1 / 0), "broken")
    bare.register(make_plugin(az_context=lambda query: f"about {query}"), "snippets")
    bare.register(ContextWrapper(), "wrapper")
    bare.register(OldStyleContextWrapper(), "old-wrapper")
    snippets = bare.context(Task(description="x"), "tests")
    assert snippets[0] == "about tests"
    assert sorted(snippets[1:]) == ["old-style", "wrapped 1"]


def test_wrapper_on_a_firstresult_hook(host, monkeypatch):
    class Audit:
        asked: list[str] = []

        @hookimpl(wrapper=True)
        def az_get_secret(self, name):  # type: ignore[no-untyped-def]
            self.asked.append(name)
            value = yield
            return value.upper() if value else value

    monkeypatch.delenv("API_KEY", raising=False)
    host.register(make_plugin(az_get_secret=lambda name: 1 / 0), "broken-vault")
    host.register(make_plugin(az_get_secret=lambda name: "sekrit"), "vault")
    host.register(Audit(), "audit")
    assert host.get_secret("API_KEY") == "SEKRIT"
    assert Audit.asked == ["API_KEY"]


def test_historic_hook_orders_by_tryfirst_and_refuses_wrappers(bare):
    """pluggy cannot wrap a historic hook (late plugins are called alone):
    such a plugin is refused when it registers, and tryfirst/trylast order
    the rest."""
    import pluggy

    seen = []

    class Wrap:
        @hookimpl(wrapper=True)
        def az_configure(self, config):  # type: ignore[no-untyped-def]
            return (yield)

    class Early:
        @hookimpl(tryfirst=True)
        def az_configure(self, config):  # type: ignore[no-untyped-def]
            seen.append("early")

    with pytest.raises(pluggy.PluginValidationError, match="historic"):
        bare.register(Wrap(), "wrap")
    bare.register(Early(), "early")
    bare.register(make_plugin(az_configure=lambda config: seen.append("plain")), "plain")
    bare.configure(load_config())
    assert seen == ["early", "plain"]


def test_wrapper_on_a_register_hook_and_tryfirst_trylast(bare):
    host = bare
    order = []

    class Wrap:
        @hookimpl(wrapper=True)
        def az_register_tools(self, register):  # type: ignore[no-untyped-def]
            order.append("wrapper")
            yield
            register(_Tool("w.added_after"))  # wrappers may register too
            return None

    class First:
        @hookimpl(tryfirst=True)
        def az_register_tools(self, register):  # type: ignore[no-untyped-def]
            order.append("first")
            register(_Tool("f.tool"))

    class Last:
        @hookimpl(trylast=True)
        def az_register_tools(self, register):  # type: ignore[no-untyped-def]
            order.append("last")
            register(_Tool("l.tool"))

    host.register(Last(), "last")
    host.register(First(), "first")
    host.register(Wrap(), "wrap")
    tools = host.tools()
    assert order[:2] == ["wrapper", "first"] and order[-1] == "last"
    assert tools["f.tool"].spec.plugin == "first" and tools["l.tool"].spec.plugin == "last"
    assert "w.added_after" in tools


def test_trace_plugins_prints_every_hook_call(az_home, monkeypatch, capsys):
    monkeypatch.setenv("AZ_TRACE_PLUGINS", "1")
    monkeypatch.setenv("AZ_LOAD_PLUGINS", "no-installed-plugin")  # only the one below answers
    traced = PluginHost().load(warn=lambda msg: None)
    traced.register(make_plugin(az_context=lambda query: f"about {query}"), "snippets")
    traced.context(Task(description="x"), "tests")
    err = capsys.readouterr().err
    assert "az: trace: az_context(task=" in err and "-> [" in err and "snippets" in err
    assert "az: trace: az_context = ['about tests']" in err
