"""The design brief's Python API: module paths, signatures, missing plugins,
ConfigManager and the deprecation helper.

``BRIEF`` is the brief's signature table (az-os-api-design.md, "Python API
interfaces"). Every class that resolves is checked against it: method
names, parameter names and order, defaults, and whether the method is a
coroutine or an async iterator, so a rename anywhere is caught. A class
whose plugin is missing, or that is not implemented yet, must give the
one-line MissingPluginError naming its distribution instead.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from az_os.api import Export, MissingPluginError, lazy_module
from az_os.errors import ConfigError, PluginMissingError

R = inspect.Parameter.empty  # a required parameter in the brief
CO, GEN = "coroutine", "async iterator"

#: (module, class) -> {method: (kind, [(parameter, brief default or R), ...])}
BRIEF: dict[tuple[str, str], dict[str, tuple[str, list[tuple[str, Any]]]]] = {
    ("core", "TaskRepository"): {
        "create": (CO, [("task", R)]),
        "get": (CO, [("task_id", R)]),
        "update": (CO, [("task", R)]),
        "list": (CO, [("status", None), ("priority", None), ("limit", 100), ("offset", 0)]),
        "delete": (CO, [("task_id", R)]),
    },
    ("core", "ExecutionEngine"): {
        "execute": (CO, [("task", R), ("tools", None)]),
        "execute_stream": (GEN, [("task", R), ("tools", None)]),
    },
    ("core", "CostTracker"): {
        "track": (CO, [("task_id", R), ("cost", R), ("model", R), ("tokens", R)]),
        "get_total_cost": (CO, [("period", "daily")]),
        "get_cost_by_task": (CO, [("task_id", R)]),
    },
    ("core", "StateManager"): {
        "save_snapshot": (CO, [("task_id", R), ("state", R), ("checkpoint_name", None)]),
        "load_snapshot": (CO, [("task_id", R), ("checkpoint_name", None)]),
        "list_snapshots": (CO, [("task_id", R)]),
    },
    ("core", "ConfigManager"): {
        "get": (CO, [("key", R), ("default", None)]),
        "set": (CO, [("key", R), ("value", R)]),
        "get_all": (CO, []),
        "delete": (CO, [("key", R)]),
    },
    ("ai", "LiteLLMClient"): {
        m: (
            GEN if m == "stream_generate" else CO,
            [
                ("messages" if m == "chat" else "prompt", R),
                ("model", R),
                ("temperature", 0.7),
                ("max_tokens", 2048),
                ("tools", None),
            ],
        )
        for m in ("generate", "chat", "stream_generate")
    },
    ("ai", "MCPClient"): {
        "call_tool": (CO, [("tool_name", R), ("arguments", R), ("timeout", None)]),
        "list_tools": (CO, []),
        "get_tool_info": (CO, [("tool_name", R)]),
    },
    ("ai", "ReActEngine"): {
        "execute_react": (CO, [("task", R), ("initial_thought", R)]),
        "reason": (CO, [("task", R), ("observation", R)]),
        "act": (CO, [("task", R), ("action", R), ("arguments", R)]),
        "observe": (CO, [("task", R), ("result", R)]),
    },
    ("ai", "RoutingEngine"): {
        "get_optimal_provider": (CO, [("task", R), ("estimated_tokens", R)]),
        "execute_with_routing": (CO, [("task", R), ("prompt", R), ("estimated_tokens", R)]),
        "update_routing_rules": (CO, [("new_rules", R)]),
    },
    ("data", "SQLiteRepository"): {
        "execute": (CO, [("query", R), ("params", None)]),
        "fetch_all": (CO, [("query", R), ("params", None)]),
        "fetch_one": (CO, [("query", R), ("params", None)]),
        "insert": (CO, [("table", R), ("data", R)]),
        "update": (CO, [("table", R), ("data", R), ("where", R), ("params", R)]),
        "delete": (CO, [("table", R), ("where", R), ("params", R)]),
    },
    ("data", "ChromaDBRepository"): {
        "add_documents": (CO, [("collection", R), ("documents", R), ("metadatas", None)]),
        "search": (CO, [("collection", R), ("query", R), ("n_results", 5), ("where", None)]),
        "get_document": (CO, [("collection", R), ("doc_id", R)]),
        "delete_document": (CO, [("collection", R), ("doc_id", R)]),
    },
    ("data", "GitRepository"): {
        "init": (CO, [("path", R)]),
        "commit": (CO, [("message", R), ("files", None)]),
        "checkout": (CO, [("branch", R)]),
        "create_branch": (CO, [("branch", R)]),
        "get_log": (CO, [("limit", 10)]),
    },
}

#: Classes of the brief that no plugin provides yet (issue 21 lists them).
#: When one lands, its entry leaves this set and its contract is checked.
NOT_YET: set[str] = set()


#: Methods of the brief a class that exists does not have (yet).
#: test_known_gaps_are_still_gaps fails once one is added.
KNOWN_GAPS: set[tuple[str, str]] = set()


def _module(area: str) -> Any:
    return importlib.import_module(f"az_os.{area}.interfaces")


def _resolve(area: str, name: str) -> Any:
    mod = _module(area)
    try:
        return getattr(mod, name)
    except MissingPluginError as exc:
        export = mod.EXPORTS[name]
        assert "\n" not in str(exc)
        owner = export.distribution or "az-os"
        assert f"pip install {owner}" in str(exc) or f"--upgrade {owner}" in str(exc), str(exc)
        if name in NOT_YET:
            pytest.skip(f"{name} is not implemented yet: {exc}")
        pytest.skip(f"{name}'s plugin is not installed: {exc}")


def test_every_brief_class_has_an_export() -> None:
    for area, name in BRIEF:
        assert name in _module(area).EXPORTS, f"az_os.{area}.interfaces has no {name}"
    assert set(_module("core").EXPORTS) >= {"Task", "TaskStatus", "TaskPriority"}


@pytest.mark.parametrize(("area", "name"), sorted(BRIEF), ids=lambda v: v)
def test_signatures_match_the_brief(area: str, name: str) -> None:
    cls = _resolve(area, name)
    problems = []
    for method, (kind, params) in BRIEF[(area, name)].items():
        fn = getattr(cls, method, None)
        if fn is None and (name, method) in KNOWN_GAPS:
            continue
        if fn is None:
            problems.append(f"{name}.{method} is missing")
            continue
        actual = (
            "coroutine"
            if inspect.iscoroutinefunction(fn)
            else ("async iterator" if inspect.isasyncgenfunction(fn) else "plain function")
        )
        if actual != kind:
            problems.append(f"{name}.{method} is a {actual}, the brief says {kind}")
        sig = list(inspect.signature(fn).parameters.values())[1:]  # without self
        positional = [p for p in sig if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        got = [p.name for p in positional[: len(params)]]
        want = [p for p, _ in params]
        if got != want:
            problems.append(f"{name}.{method} parameters {got}, the brief says {want}")
            continue
        for p, (pname, default) in zip(positional, params, strict=False):
            # a brief default must be kept; a brief-required parameter may gain one
            if default is not R and p.default != default:
                problems.append(
                    f"{name}.{method}({pname}=...) default {p.default!r}, the brief says {default!r}"
                )
        # anything beyond the brief must be optional: brief-style calls still work
        for p in sig[len(params) :]:
            required = p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            if required:
                problems.append(f"{name}.{method} adds a required parameter {p.name!r}")
    assert not problems, "\n".join(problems)


def test_known_gaps_are_still_gaps() -> None:
    for name, method in sorted(KNOWN_GAPS):
        area = next(a for a, n in BRIEF if n == name)
        cls = _resolve(area, name)
        assert not hasattr(cls, method), f"{name}.{method} exists now: remove it from KNOWN_GAPS"


#: The brief's ``Task(...)`` keywords, and the kernel's name where it differs
#: (None: no such field yet). Code that builds a Task as the brief does fails
#: on these; the test fails once a gap is closed so the table is updated.
TASK_FIELDS = {
    "id": "id",
    "command": "description",
    "status": "status",
    "priority": "priority",
    "model": "model",
    "cost": "cost_usd",
    "estimated_tokens": None,
    "actual_tokens": None,  # prompt_tokens + completion_tokens (Task.total_tokens)
    "created_at": "created_at",
    "started_at": "started_at",
    "completed_at": "completed_at",
    "updated_at": "updated_at",
    "parent_task_id": "parent_task_id",
}


def test_task_fields_against_the_brief() -> None:
    import msgspec
    from az_os.core.interfaces import Task, TaskPriority, TaskStatus

    fields = {f.name: f for f in msgspec.structs.fields(Task)}
    for brief, ours in TASK_FIELDS.items():
        if ours is None:
            assert brief not in fields, f"Task.{brief} exists now: update TASK_FIELDS"
        else:
            assert ours in fields, f"Task has no {ours!r} (the brief's {brief!r})"
            if brief != ours:
                assert brief not in fields, f"Task.{brief} exists now: update TASK_FIELDS"
    assert fields["status"].default is TaskStatus.INITIALIZED
    assert fields["priority"].default is TaskPriority.MEDIUM
    assert [s.value for s in TaskPriority] == ["low", "medium", "high", "urgent"]
    brief_statuses = {"initialized", "pending", "running", "completed", "failed", "cancelled"}
    assert brief_statuses <= {s.value for s in TaskStatus}


def test_the_table_catches_a_rename() -> None:
    """The checker itself: a class with a renamed parameter and a sync method fails."""

    class Renamed:
        async def get(self, name: str, default: Any = None) -> Any: ...
        def set(self, key: str, value: Any) -> None: ...
        async def get_all(self) -> dict[str, Any]: ...
        async def delete(self, key: str, force: bool) -> bool: ...

    mod = _module("core")
    original = mod.EXPORTS["ConfigManager"]
    mod.__dict__.pop("ConfigManager", None)
    try:
        mod.EXPORTS["ConfigManager"] = Export(__name__, "_RENAMED")
        globals()["_RENAMED"] = Renamed
        with pytest.raises(AssertionError) as err:
            test_signatures_match_the_brief("core", "ConfigManager")
    finally:
        mod.EXPORTS["ConfigManager"] = original
        mod.__dict__.pop("ConfigManager", None)
        globals().pop("_RENAMED", None)
    text = str(err.value)
    assert "get parameters ['name', 'default']" in text
    assert "set is a plain function" in text
    assert "adds a required parameter 'force'" in text


# -- lazy import and missing plugins -----------------------------------------
@pytest.mark.parametrize("area", ["core", "ai", "data"])
def test_interfaces_import_no_plugin(area: str) -> None:
    """Importing the module imports no plugin (and nothing heavy)."""
    code = (
        f"import sys, az_os.{area}.interfaces as m; "
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'az_git','az_cost','az_router','az_mcp','az_litellm','az_sqlite','az_chroma',"
        "'litellm','chromadb','git','mcp'}); print(bad); print(sorted(dir(m)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, names = out.stdout.splitlines()
    assert first == "[]"
    for name in _module(area).EXPORTS:
        assert repr(name) in names


def test_missing_plugin_is_one_line_naming_the_distribution() -> None:
    """With az-git not importable, importing the module works and the name
    raises an ImportError whose one line says what to install."""
    code = (
        "import sys; sys.modules['az_git'] = None\n"
        "import az_os.core.interfaces\n"
        "try:\n"
        "    from az_os.core.interfaces import StateManager\n"
        "except ImportError as exc:\n"
        "    from az_os.errors import PluginMissingError\n"
        "    assert isinstance(exc, PluginMissingError), type(exc)\n"
        "    print(type(exc).__name__, '|', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "MissingPluginError | StateManager needs the az-git plugin: pip install az-git\n"
    )


def test_missing_attribute_and_broken_dependency() -> None:
    exports = {
        "Gone": Export("az_os.types", "NoSuchClass", None),
        "Absent": Export("az_no_such_plugin.mod", "X", "az-no-such-plugin"),
        "Broken": Export("az_os.no_such_module", "X", None),
    }
    ns: dict[str, Any] = {}
    getattr_, dir_ = lazy_module("fake", exports, ns)
    with pytest.raises(MissingPluginError, match=r"^Gone is not provided by the installed az-os;"):
        getattr_("Gone")
    with pytest.raises(
        ImportError,
        match=r"^Absent needs the az-no-such-plugin plugin: pip install az-no-such-plugin$",
    ):
        getattr_("Absent")
    # a missing kernel module is a bug, not a missing install: the real error
    with pytest.raises(ModuleNotFoundError) as err:
        getattr_("Broken")
    assert not isinstance(err.value, PluginMissingError)
    with pytest.raises(AttributeError):
        getattr_("Nothing")
    assert dir_() == ["Absent", "Broken", "Gone"]


def test_resolved_names_are_the_owners_classes() -> None:
    from az_os.core import interfaces as core
    from az_os.engine import ExecutionEngine
    from az_os.storage import TaskRepository
    from az_os.types import Task

    assert core.Task is Task and core.TaskRepository is TaskRepository
    assert core.ExecutionEngine is ExecutionEngine
    assert "ExecutionEngine" in vars(core)  # cached after first use


# -- deprecation helper ------------------------------------------------------
def test_deprecation_warning_names_the_version() -> None:
    from az_os.util import AzDeprecationWarning, deprecated, warn_deprecated

    @deprecated("0.3.0", instead="new_name")
    def old_name(x: int) -> int:
        return x + 1

    with pytest.warns(
        AzDeprecationWarning,
        match=r"old_name is deprecated and will be removed in version 0\.3\.0; use new_name instead",
    ) as rec:
        assert old_name(1) == 2
    assert rec[0].filename == __file__  # points at the caller
    with pytest.raises(ValueError):
        warn_deprecated("x", "")


def test_deprecated_export_warns_on_every_use() -> None:
    from az_os.util import AzDeprecationWarning

    ns: dict[str, Any] = {}
    getattr_, _ = lazy_module(
        "az_os.fake", {"OldTask": Export("az_os.types", "Task", None, "1.0.0", "Task")}, ns
    )
    for _ in range(2):
        with pytest.warns(
            AzDeprecationWarning, match=r"az_os\.fake\.OldTask .* version 1\.0\.0; use Task"
        ):
            getattr_("OldTask")
    assert "OldTask" not in ns


# -- ConfigManager -------------------------------------------------------------
def test_config_manager_round_trip(az_home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from az_os.core.interfaces import ConfigManager

    cm = ConfigManager()
    path = az_home / "config.toml"

    async def go() -> None:
        assert await cm.get("agent.max_turns") == 5  # the default
        assert await cm.get("agent.no_such_key", "fallback") == "fallback"
        await cm.set("agent.max_turns", 8)
        await cm.set("vectorstore.path", "vectors")  # a section outside AzConfig: kept as is
        assert await cm.get("agent.max_turns") == 8
        assert "max_turns = 8" in path.read_text()
        everything = await cm.get_all()
        assert everything["agent"]["max_turns"] == 8
        assert everything["vectorstore"] == {"path": "vectors"}
        before = path.read_text()
        with pytest.raises(ConfigError) as err:
            await cm.set("agent.max_turns", 0)
        assert path.read_text() == before  # nothing written
        assert "key 'agent.max_turns': expected an integer >= 1 (0)" in str(err.value)
        with pytest.raises(ConfigError, match="unknown config key 'agent.colour'"):
            await cm.set("agent.colour", "blue")
        assert await cm.delete("agent.max_turns") is True
        assert await cm.delete("agent.max_turns") is False
        assert await cm.get("agent.max_turns") == 5
        monkeypatch.setenv("AZ_AGENT__MAX_TURNS", "7")  # reads see overrides like az config get
        assert await cm.get("agent.max_turns") == 7

    asyncio.run(go())


def test_config_manager_errors_match_az_config(az_home, az) -> None:  # type: ignore[no-untyped-def]
    """The same bad value gives the same one-line message from both."""
    from az_os.config_manager import ConfigManager

    cli = az("config", "set", "agent.approve=sometimes")
    assert cli.returncode == 2
    with pytest.raises(ConfigError) as err:
        asyncio.run(ConfigManager().set("agent.approve", "sometimes"))
    assert cli.stderr.strip().endswith(str(err.value)), (cli.stderr, str(err.value))


def test_missing_plugin_error_is_both_kinds() -> None:
    exc = MissingPluginError("X needs the az-x plugin: pip install az-x", distribution="az-x")
    assert isinstance(exc, ImportError) and isinstance(exc, PluginMissingError)
    assert exc.exit_code == 3 and exc.distribution == "az-x"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert str(exc) == "X needs the az-x plugin: pip install az-x"


ROOT = Path(__file__).resolve().parents[1]


def test_every_plugin_keeps_a_changelog() -> None:
    missing = [
        p.name for p in sorted(ROOT.glob("plugins/*/")) if not (p / "CHANGELOG.md").is_file()
    ]
    assert not missing, f"plugins without a CHANGELOG.md: {', '.join(missing)}"


@pytest.mark.parametrize(
    "path",
    [
        "CHANGELOG.md",
        *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("plugins/*/CHANGELOG.md")),
    ],
)
def test_changelog_keeps_a_changelog(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text and "semver.org" in text
    assert "## [Unreleased]" in text
    for heading in re.findall(r"^### (.+)$", text, re.M):
        assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, (
            heading
        )
