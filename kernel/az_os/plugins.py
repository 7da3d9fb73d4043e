"""The plugin host: loads plugins and gives typed access to their hooks.

Plugins come from two places:

* the kernel's own default plugins (:data:`DEFAULT_PLUGINS`), always loaded;
* entry points in the ``az`` group of installed distributions
  (``[project.entry-points.az] name = "package.module"``), each loaded in its
  own ``try``/``except``: a plugin that fails to import or whose hooks do
  not match the specs is skipped with a one-line warning on stderr and
  shown as ``failed`` in ``az plugins list``.

Environment switches (as in pytest and llm):

* ``AZ_LOAD_PLUGINS=a,b`` loads only those entry-point plugins (by entry
  point or distribution name); ``AZ_LOAD_PLUGINS=`` (empty) loads none.
* ``AZ_DISABLE_PLUGINS=a,b`` skips those.

Use :func:`get_host` for the process-wide :class:`PluginHost`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from az_os.errors import AzError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import typer

    from az_os.config import AzConfig
    from az_os.models import Model
    from az_os.tools import Tool
    from az_os.types import (
        HealthResult,
        ModelRequest,
        ModelResponse,
        Task,
        TaskEvent,
        ToolCall,
        ToolResult,
        Usage,
    )

log = logging.getLogger("az.plugins")

ENTRY_POINT_GROUP = "az"

#: Kernel modules registered as plugins in every process.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "az_os.default_plugins.routing",
    "az_os.default_plugins.policy",
    "az_os.default_plugins.aichat",
)

#: Which distribution provides each top-level command, for "install X" messages.
FEATURE_PLUGINS: dict[str, str] = {
    "db": "az-sqlite",
    "models": "az-local (embedded) or az-litellm (hosted providers)",
    "ask": "az-local (embedded) or az-litellm (hosted providers)",
    "tools": "az-tools",
    "cost": "az-cost",
    "route": "az-router",
    "mcp": "az-mcp",
    "rag": "az-rag",
    "memory": "az-memory",
    "state": "az-git",
    "secrets": "az-keyring",
    "undo": "az-git",
    "health": "az-telemetry",
    "metrics": "az-telemetry",
    "dashboard": "az-tui",
    "serve": "az-server",
}


@dataclass
class PluginRecord:
    """One plugin as ``az plugins list`` shows it.

    ``status`` is ``loaded``, ``failed`` (``error`` says why) or
    ``disabled`` (by ``AZ_LOAD_PLUGINS``/``AZ_DISABLE_PLUGINS``).
    """

    name: str
    module: str
    version: str | None = None
    distribution: str | None = None
    hooks: list[str] = field(default_factory=list)
    status: Literal["loaded", "failed", "disabled"] = "loaded"
    error: str | None = None
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_ENTRY_POINTS: Any = None


def installed_entry_points(group: str) -> list[Any]:
    """The installed entry points of ``group`` (``importlib.metadata``).

    Every distribution's metadata is read once per process, not once per
    group: a scan costs 10-20 ms with a few hundred packages installed.
    """
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        from importlib.metadata import entry_points

        _ENTRY_POINTS = entry_points()
    return list(_ENTRY_POINTS.select(group=group))


def _split_env(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [p.strip() for p in value.split(",") if p.strip()]


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line (lines joined with "; "), at most ``limit`` characters."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    out = f"{type(exc).__name__}: {text}".rstrip(": ")
    return out if len(out) <= limit else out[: limit - 1] + "…"


class PluginHost:
    """A pluggy :class:`~pluggy.PluginManager` with az's loading rules and a
    typed facade over ``pm.hook``."""

    def __init__(self) -> None:
        # imported here: commands that never load plugins (az task list) skip pluggy
        import pluggy

        from az_os import hookspecs

        self.pm = pluggy.PluginManager("az")
        self.pm.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []
        self._models: dict[str, Model] | None = None
        self._aliases: dict[str, str] = {}
        self._tools: dict[str, Tool] | None = None
        self._lock = threading.RLock()
        self.loaded = False
        self.configured = False

    # -- loading ---------------------------------------------------------
    def load(self, warn: Callable[[str], None] | None = None) -> PluginHost:
        """Register default plugins and entry-point plugins (once)."""
        if self.loaded:
            return self
        warn = warn or (lambda msg: print(f"az: warning: {msg}", file=sys.stderr))
        for modname in DEFAULT_PLUGINS:
            mod = importlib.import_module(modname)
            self.pm.register(mod, name=modname)
            self.records.append(
                PluginRecord(
                    name=modname.rsplit(".", 1)[-1],
                    module=modname,
                    version=_kernel_version(),
                    distribution="az-os",
                    hooks=self._hooks_of(mod),
                    builtin=True,
                )
            )
        self._load_entry_points(warn)
        self.loaded = True
        return self

    def _load_entry_points(self, warn: Callable[[str], None]) -> None:
        allow = _split_env("AZ_LOAD_PLUGINS")
        block = set(_split_env("AZ_DISABLE_PLUGINS") or [])
        seen: set[str] = set()
        for ep in sorted(installed_entry_points(ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            record = PluginRecord(
                name=ep.name, module=ep.value, version=version, distribution=dist_name
            )
            names = {ep.name, dist_name or ep.name}
            if (allow is not None and not names & set(allow)) or names & block:
                record.status = "disabled"
                self.records.append(record)
                continue
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
                self._check_known_hooks(plugin, ep.name)
            except Exception as exc:  # noqa: BLE001 - any plugin failure is isolated
                record.status = "failed"
                record.error = _one_line(exc)
                warn(f"plugin '{ep.name}' ({dist_name or ep.value}) skipped: {record.error}")
            else:
                record.hooks = self._hooks_of(plugin)
            self.records.append(record)

    def _check_known_hooks(self, plugin: Any, name: str) -> None:
        """Unregister a plugin that implements a hook no spec defines (a typo
        like ``az_register_tool`` would otherwise never run)."""
        unknown = [hc.name for hc in (self.pm.get_hookcallers(plugin) or []) if hc.spec is None]
        if unknown:
            self.pm.unregister(plugin, name=name)
            import pluggy

            raise pluggy.PluginValidationError(
                plugin, f"unknown hook {', '.join(sorted(unknown))} (see docs/plugin-hooks.md)"
            )

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register an extra plugin object at run time (tests, embedding apps)."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        self.pm.register(plugin, name=name)
        self.records.append(
            PluginRecord(
                name=name, module=getattr(plugin, "__name__", name), hooks=self._hooks_of(plugin)
            )
        )
        self.invalidate()

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register`."""
        self.pm.unregister(name=name)
        self.records = [r for r in self.records if r.name != name]
        self.invalidate()

    def invalidate(self) -> None:
        """Forget cached models and tools (after registering a plugin)."""
        with self._lock:
            self._models = None
            self._tools = None
            self._aliases = {}

    def _hooks_of(self, plugin: Any) -> list[str]:
        return sorted(hc.name for hc in (self.pm.get_hookcallers(plugin) or []))

    def plugins(self) -> list[PluginRecord]:
        """Every plugin seen, built-ins first."""
        return list(self.records)

    # -- calling helpers ---------------------------------------------------
    def _call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of a hook, isolating failures: an
        implementation that raises is logged and skipped."""
        hook = getattr(self.pm.hook, hook_name)
        results: list[Any] = []
        for impl in reversed(hook.get_hookimpls()):
            args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
            try:
                res = impl.function(**args)
            except Exception as exc:  # noqa: BLE001
                log.warning(
                    "plugin %s failed in %s: %s", impl.plugin_name, hook_name, _one_line(exc)
                )
                continue
            if res is not None:
                results.append(res)
        return results

    # -- typed facade ------------------------------------------------------
    def configure(self, config: AzConfig) -> None:
        """``az_configure`` (historic), once per host: later calls do nothing,
        so every entry point (CLI, engine, server) may call it safely."""
        if self.configured:
            return
        self.configured = True
        self.pm.hook.az_configure.call_historic(kwargs={"config": config})

    def register_commands(
        self, app: typer.Typer, warn: Callable[[str], None] | None = None
    ) -> None:
        """``az_register_commands``; a plugin that fails here is reported, not fatal."""
        for impl in reversed(self.pm.hook.az_register_commands.get_hookimpls()):
            try:
                impl.function(app=app)
            except Exception as exc:  # noqa: BLE001
                msg = f"plugin '{impl.plugin_name}' could not add its commands: {_one_line(exc)}"
                if warn:
                    warn(msg)
                for r in self.records:
                    if r.name == impl.plugin_name:
                        r.status, r.error = "failed", _one_line(exc)

    def _register_each(self, hook_name: str, make_register: Callable[[str], Any]) -> None:
        """Call every implementation of a ``register`` hook with a callback made
        for its plugin (``make_register(plugin_name)``); a plugin that raises is
        logged and skipped, and what it registered before failing is kept."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):
            try:
                impl.function(register=make_register(impl.plugin_name))
            except Exception as exc:  # noqa: BLE001
                log.warning(
                    "plugin %s failed in %s: %s", impl.plugin_name, hook_name, _one_line(exc)
                )

    def models(self) -> dict[str, Model]:
        """Every registered model by id (``az_register_models``), cached.
        An id registered twice keeps the first."""
        with self._lock:
            if self._models is None:
                models: dict[str, Model] = {}
                alias_map: dict[str, str] = {}

                def make_register(plugin: str) -> Callable[..., None]:
                    def register(model: Model, aliases: Iterable[str] = ()) -> None:
                        mid = model.info.id
                        if mid in models:
                            return
                        if model.info.plugin is None:
                            model.info.plugin = plugin
                        models[mid] = model
                        for a in [*aliases, *model.info.aliases]:
                            alias_map.setdefault(a, mid)

                    return register

                self._register_each("az_register_models", make_register)
                self._models, self._aliases = models, alias_map
            return self._models

    def find_model(self, name: str) -> Model:
        """A model by id, alias or unambiguous id suffix
        (``claude-sonnet-4-5`` for ``anthropic/claude-sonnet-4-5``).

        Raises :class:`~az_os.errors.NotFoundError` naming close matches,
        or :class:`~az_os.errors.PluginMissingError` when no model plugin
        is installed.
        """
        models = self.models()
        if not models:
            from az_os.errors import PluginMissingError

            raise PluginMissingError(
                "no model plugin is installed: pip install az-local (embedded, offline) "
                "or az-litellm (hosted providers)"
            )
        if name in models:
            return models[name]
        if name in self._aliases:
            return models[self._aliases[name]]
        matches = [m for mid, m in models.items() if mid.split("/", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        import difflib

        close = difflib.get_close_matches(name, list(models) + list(self._aliases), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see 'az models list'"
        raise NotFoundError(f"unknown model '{name}'{hint}")

    def default_model(self, config: AzConfig | None = None) -> Model:
        """The model used when none is given: ``models.default`` from config,
        else the usable model with the highest ``default_priority``.
        Raises NotFoundError/PluginMissingError when there is none."""
        if config is not None and config.models.default:
            return self.find_model(config.models.default)
        models = self.models()
        best: Model | None = None
        for m in models.values():
            ok, _ = m.usable()
            if ok and (best is None or m.info.default_priority > best.info.default_priority):
                best = m
        if best is None:
            if not models:
                self.find_model("")  # raises PluginMissingError
            reasons = "; ".join(f"{mid}: {m.usable()[1]}" for mid, m in list(models.items())[:3])
            raise NotFoundError(f"no usable model ({reasons})")
        return best

    def tools(self) -> dict[str, Tool]:
        """Every registered tool by name (``az_register_tools``), cached.
        A name registered twice keeps the first."""
        with self._lock:
            if self._tools is None:
                tools: dict[str, Tool] = {}

                def make_register(plugin: str) -> Callable[[Tool], None]:
                    def register(tool: Tool) -> None:
                        if tool.spec.name in tools:
                            return
                        if tool.spec.plugin is None:
                            tool.spec.plugin = plugin
                        tools[tool.spec.name] = tool

                    return register

                self._register_each("az_register_tools", make_register)
                self._tools = tools
            return self._tools

    def route(self, task: Task, request: ModelRequest, candidates: list[Model]) -> Model | None:
        """``az_route`` (firstresult)."""
        result: Model | None = self.pm.hook.az_route(
            task=task, request=request, candidates=candidates
        )
        return result

    def context(self, task: Task, query: str) -> list[str]:
        """``az_context``: every snippet from every plugin, flattened."""
        out: list[str] = []
        for res in self._call_each("az_context", task=task, query=query):
            if isinstance(res, str):
                out.append(res)
            else:
                out.extend(str(r) for r in res)
        return [s for s in out if s]

    def before_model_call(self, task: Task, request: ModelRequest, model: Model) -> None:
        """``az_before_model_call``; an :class:`AzError` from a plugin propagates (veto)."""
        self.pm.hook.az_before_model_call(task=task, request=request, model=model)

    def after_model_call(
        self, task: Task, request: ModelRequest, response: ModelResponse, usage: Usage
    ) -> None:
        """``az_after_model_call``; failures are logged and ignored."""
        self._call_each(
            "az_after_model_call", task=task, request=request, response=response, usage=usage
        )

    def before_tool_call(self, task: Task, call: ToolCall, tool: Tool) -> None:
        """``az_before_tool_call``; a ToolRefusedError propagates (refusal)."""
        self.pm.hook.az_before_tool_call(task=task, call=call, tool=tool)

    def after_tool_call(self, task: Task, call: ToolCall, result: ToolResult) -> None:
        """``az_after_tool_call``; failures are logged and ignored."""
        self._call_each("az_after_tool_call", task=task, call=call, result=result)

    def task_event(self, task: Task, event: TaskEvent) -> None:
        """``az_task_event``; failures are logged and ignored."""
        self._call_each("az_task_event", task=task, event=event)

    def health_checks(self) -> dict[str, Callable[[], HealthResult]]:
        """``az_health_checks``: name → check."""
        checks: dict[str, Callable[[], HealthResult]] = {}

        def register(name: str, check: Callable[[], HealthResult]) -> None:
            checks.setdefault(name, check)

        self._call_each("az_health_checks", register=register)
        return checks

    def metrics_text(self) -> str:
        """``az_metrics``: every plugin's Prometheus text, joined (``""`` for none)."""
        parts = [str(t).rstrip("\n") for t in self._call_each("az_metrics") if str(t).strip()]
        return "\n".join(parts) + ("\n" if parts else "")

    def set_secret(self, name: str, value: str) -> bool:
        """``az_set_secret`` (firstresult): True if a plugin stored it."""
        return bool(self.pm.hook.az_set_secret(name=name, value=value))

    def get_secret(self, name: str) -> str | None:
        """``$name`` from the environment, else ``az_get_secret`` (firstresult).
        The value is remembered by :mod:`az_os.redact`, so it is masked
        wherever az writes from then on."""
        from az_os.redact import remember

        if os.environ.get(name):
            remember(os.environ[name])
            return os.environ[name]
        try:
            result: str | None = self.pm.hook.az_get_secret(name=name)
        except AzError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("secret lookup for %s failed: %s", name, _one_line(exc))
            return None
        remember(result)
        return result

    def secret_names(self) -> list[str]:
        """``az_secret_names``: every name some store holds, sorted, no duplicates."""
        names: set[str] = set()
        for res in self._call_each("az_secret_names"):
            names.update(str(n) for n in res)
        return sorted(names)


def _kernel_version() -> str:
    from az_os import __version__

    return __version__


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host(warn: Callable[[str], None] | None = None) -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _host
    with _host_lock:
        if _host is None:
            _host = PluginHost().load(warn)
        return _host


def configure_loaded_host(config: AzConfig) -> None:
    """``az_configure`` on the process-wide host if it is loaded (once per host)."""
    host = _host
    if host is not None:
        host.configure(config)


def reset_host() -> None:
    """Forget the process-wide host and the entry-point scan (tests use this
    after changing the environment or installing a distribution)."""
    global _host, _ENTRY_POINTS
    with _host_lock:
        _host = None
        _ENTRY_POINTS = None
