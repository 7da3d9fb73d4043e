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
* ``AZ_TRACE_PLUGINS=1`` prints every hook call to stderr: the hook, its
  arguments, the implementations in call order and the result
  (``pm.add_hookcall_monitoring``).

Every hook is called through pluggy (``pm.hook.<name>(...)``), so
``tryfirst``/``trylast`` and wrappers (``wrapper=True``,
``hookwrapper=True``) work on every hook. A failing implementation of an
isolated hook (all but :data:`az_os.hookspecs.PROPAGATING_HOOKS`) is logged
and skipped inside pluggy's own call loop, so the other implementations and
the wrappers around them still run.

Use :func:`get_host` for the process-wide :class:`PluginHost`.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from az_os import entrypoints
from az_os.entrypoints import ENTRY_POINT_GROUP, installed_entry_points
from az_os.entrypoints import split_env as _split_env
from az_os.errors import AzError, NotFoundError
from az_os.util import error_line

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

#: Kernel modules registered as plugins in every process.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "az_os.default_plugins.routing",
    "az_os.default_plugins.policy",
    "az_os.default_plugins.aichat",
)


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


#: The plugin whose implementation is running (set around each isolated
#: call), so a ``register`` callback knows who registered what.
_calling_plugin: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "az_calling_plugin", default=None
)


class PluginHost:
    """A pluggy :class:`~pluggy.PluginManager` with az's loading rules and a
    typed facade over ``pm.hook``."""

    def __init__(self) -> None:
        # imported here: commands that never load plugins (az task list) skip pluggy
        import pluggy

        from az_os import hookspecs

        self.pm = pluggy.PluginManager("az")
        self.pm.add_hookspecs(hookspecs)
        self._propagating = hookspecs.PROPAGATING_HOOKS
        self._az_errors_propagate = hookspecs.AZ_ERRORS_PROPAGATE
        self._warn: Callable[[str], None] | None = None
        if os.environ.get("AZ_TRACE_PLUGINS", "") not in ("", "0"):
            self.pm.add_hookcall_monitoring(_trace_before, _trace_after)
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
            self._isolate(mod)
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
                self._isolate(plugin)
            except Exception as exc:  # noqa: BLE001 - any plugin failure is isolated
                record.status = "failed"
                record.error = error_line(exc)
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
        self._isolate(plugin)
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

    # -- failure isolation -------------------------------------------------
    def _isolate(self, plugin: Any) -> None:
        """Wrap each of ``plugin``'s implementations (wrappers excepted) so
        that, inside pluggy's call loop, it runs with :data:`_calling_plugin`
        set and, for an isolated hook, an exception is reported by
        :meth:`_failed` and the call goes on as if it returned ``None``.
        Wrappers see the other implementations' results as usual."""
        for caller in self.pm.get_hookcallers(plugin) or []:
            isolated = caller.name not in self._propagating
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin or impl.wrapper or impl.hookwrapper:
                    continue
                # HookImpl.function is the one attribute pluggy's loop calls
                guarded = self._guarded(caller.name, impl.plugin_name, impl.function, isolated)
                setattr(impl, "function", guarded)  # noqa: B010

    def _guarded(
        self, hook: str, plugin: str, fn: Callable[..., Any], isolated: bool
    ) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            token = _calling_plugin.set(plugin)
            try:
                return fn(*args)
            except AzError as exc:
                if not isolated or hook in self._az_errors_propagate:
                    raise
                self._failed(hook, plugin, exc)
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is isolated
                if not isolated:
                    raise
                self._failed(hook, plugin, exc)
            finally:
                _calling_plugin.reset(token)
            return None

        return call

    def _failed(self, hook: str, plugin: str, exc: BaseException) -> None:
        """Report an isolated implementation's failure: a log warning, and
        for ``az_register_commands`` a warning on stderr and the plugin
        marked ``failed`` in ``az plugins list``."""
        line = error_line(exc)
        if hook == "az_register_commands":
            if self._warn:
                self._warn(f"plugin '{plugin}' could not add its commands: {line}")
            for r in self.records:
                if r.name == plugin:
                    r.status, r.error = "failed", line
            return
        log.warning("plugin %s failed in %s: %s", plugin, hook, line)

    # -- typed facade ------------------------------------------------------
    def configure(self, config: AzConfig) -> None:
        """``az_configure`` (historic), once per host: later calls do nothing,
        so every entry point (CLI, engine, server) may call it safely."""
        if self.configured:
            return
        self.configured = True
        self.pm.hook.az_configure.call_historic(kwargs={"config": config})

    def register_commands(
        self,
        app: typer.Typer,
        warn: Callable[[str], None] | None = None,
        skip: Iterable[str] = (),
    ) -> None:
        """``az_register_commands``, but not of the plugins named in ``skip``
        (those that declare their commands, ``az.commands``); a plugin that
        fails here is reported through ``warn`` and marked failed, not fatal."""
        self._warn = warn
        skipped = [p for p in (self.pm.get_plugin(n) for n in skip) if p is not None]
        try:
            if skipped:
                self.pm.subset_hook_caller("az_register_commands", skipped)(app=app)
            else:
                self.pm.hook.az_register_commands(app=app)
        finally:
            self._warn = None

    def models(self) -> dict[str, Model]:
        """Every registered model by id (``az_register_models``), cached.
        An id registered twice keeps the first."""
        with self._lock:
            if self._models is None:
                models: dict[str, Model] = {}
                alias_map: dict[str, str] = {}

                def register(model: Model, aliases: Iterable[str] = ()) -> None:
                    mid = model.info.id
                    if mid in models:
                        return
                    if model.info.plugin is None:
                        model.info.plugin = _calling_plugin.get()
                    models[mid] = model
                    for a in [*aliases, *model.info.aliases]:
                        alias_map.setdefault(a, mid)

                self.pm.hook.az_register_models(register=register)
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

                def register(tool: Tool) -> None:
                    if tool.spec.name in tools:
                        return
                    if tool.spec.plugin is None:
                        tool.spec.plugin = _calling_plugin.get()
                    tools[tool.spec.name] = tool

                self.pm.hook.az_register_tools(register=register)
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
        for res in self.pm.hook.az_context(task=task, query=query):
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
        self.pm.hook.az_after_model_call(task=task, request=request, response=response, usage=usage)

    def before_tool_call(self, task: Task, call: ToolCall, tool: Tool) -> None:
        """``az_before_tool_call``; a ToolRefusedError propagates (refusal)."""
        self.pm.hook.az_before_tool_call(task=task, call=call, tool=tool)

    def after_tool_call(self, task: Task, call: ToolCall, result: ToolResult) -> None:
        """``az_after_tool_call``; failures are logged and ignored."""
        self.pm.hook.az_after_tool_call(task=task, call=call, result=result)

    def task_event(self, task: Task, event: TaskEvent) -> None:
        """``az_task_event``; failures are logged and ignored."""
        self.pm.hook.az_task_event(task=task, event=event)

    def health_checks(self) -> dict[str, Callable[[], HealthResult]]:
        """``az_health_checks``: name → check."""
        checks: dict[str, Callable[[], HealthResult]] = {}

        def register(name: str, check: Callable[[], HealthResult]) -> None:
            checks.setdefault(name, check)

        self.pm.hook.az_health_checks(register=register)
        return checks

    def metrics_text(self) -> str:
        """``az_metrics``: every plugin's Prometheus text, joined (``""`` for none)."""
        parts = [str(t).rstrip("\n") for t in self.pm.hook.az_metrics() if str(t).strip()]
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
        result: str | None = self.pm.hook.az_get_secret(name=name)
        remember(result)
        return result

    def secret_names(self) -> list[str]:
        """``az_secret_names``: every name some store holds, sorted, no duplicates."""
        names: set[str] = set()
        for res in self.pm.hook.az_secret_names():
            names.update(str(n) for n in res)
        return sorted(names)


def _trace_before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    names = ", ".join(i.plugin_name for i in reversed(impls)) or "none"
    args = ", ".join(f"{k}={_short_repr(v)}" for k, v in kwargs.items())
    print(f"az: trace: {hook_name}({args}) -> [{names}]", file=sys.stderr)


def _trace_after(
    outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    exc = outcome.exception
    shown = f"raised {error_line(exc)}" if exc is not None else _short_repr(outcome.get_result())
    print(f"az: trace: {hook_name} = {shown}", file=sys.stderr)


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kernel_version() -> str:
    from az_os import __version__

    return __version__


_host: PluginHost | None = None
_host_lock = threading.RLock()


def get_host(warn: Callable[[str], None] | None = None) -> PluginHost:
    """The process-wide plugin host, loaded on first use and given the
    config (``az_configure``) when the config is valid; with an invalid
    config, whatever needs the config reports the error and
    :class:`~az_os.engine.ExecutionEngine` configures the host later."""
    global _host
    with _host_lock:
        if _host is None:
            from az_os.config import load_config
            from az_os.errors import ConfigError

            _host = PluginHost().load(warn)
            try:
                config = load_config()
            except ConfigError:
                pass
            else:
                _host.configure(config)
        return _host


def reset_host() -> None:
    """Forget the process-wide host, the entry-point scan and the commands
    read from both (tests use this after changing the environment or
    installing a distribution)."""
    global _host
    with _host_lock:
        _host = None
        entrypoints.forget()
        commands = sys.modules.get("az_os.commands")
        if commands is not None:
            commands.forget_commands()
        stevedore = sys.modules.get("stevedore.extension")
        if stevedore is not None:  # get_driver's lookups, kept per process by stevedore
            stevedore.ExtensionManager.ENTRY_POINT_CACHE.clear()
