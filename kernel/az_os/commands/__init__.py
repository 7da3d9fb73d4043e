"""Commands the kernel itself provides over its contracts.

``az task``/``az log`` work with any storage backend, ``az models``/``az ask``
with any model plugin, ``az tools`` with any tool plugin. Each module keeps
its imports light: heavy work is imported inside the command function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import typer
import typer.core
import typer.main

#: Which distribution provides each top-level command, for "install X" messages
#: (a command shown in ``az --help`` as not installed). Only plugins' commands:
#: ``az models``/``az ask``/``az tools`` are the kernel's. tests/test_layers.py
#: checks each entry names a plugin under plugins/.
FEATURE_PLUGINS: dict[str, str] = {
    "db": "az-sqlite",
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
    "serve": "az-server",
    "dashboard": "az-tui",
    "worker": "az-celery",
}


#: The entry-point group where plugins declare their commands (see
#: :class:`Command` and docs/writing-plugins.md, "Commands").
COMMANDS_GROUP = "az.commands"


@dataclass(frozen=True)
class Command:
    """One command a plugin adds, as ``az --help`` lists it.

    A plugin declares its commands in a module that imports nothing but
    this class (so listing them imports none of the plugin's code) and names that module's
    tuple in its ``az.commands`` entry point, under its plugin name::

        # pyproject.toml
        [project.entry-points."az.commands"]
        cost = "az_cost.commandlist:COMMANDS"

        # az_cost/commandlist.py
        from az_os.commands import Command
        COMMANDS = (Command("cost", "az_cost.cli:cost_app", "Spend by day and model; budgets."),)

    ``name`` is the command's path under ``az``: ``"cost"``, or
    ``"task submit"`` for a subcommand of a group (the kernel's ``task``, or
    another plugin's group). ``target`` is ``"module:object"``: a
    :class:`typer.Typer` (a group), a click command, or a function (a typer
    command). It is imported only when the command runs or its own
    ``--help`` is shown. ``help`` is the one line shown in the parent's
    command list. ``group_help`` is the help of the parent group when no
    installed plugin declares that group itself (a subcommand of another
    plugin's group, that plugin being absent).
    """

    name: str
    target: str
    help: str
    group_help: str = ""


#: What a plugin without commands declares (``x = "az_os.commands:NO_COMMANDS"``),
#: so ``az --help`` need not import it to ask.
NO_COMMANDS: tuple[Command, ...] = ()


@dataclass
class Declarations:
    """Every installed plugin's declared commands (:func:`declared`)."""

    #: command path ("cost", "task submit") → its declaration; first plugin (by name) wins
    commands: dict[str, Command] = field(default_factory=dict)
    #: plugin names (``az`` entry points) whose commands are declared: the kernel
    #: never asks their ``az_register_commands`` hook
    plugins: set[str] = field(default_factory=set)

    def children(self, group: str) -> dict[str, Command]:
        """The declared commands one level under ``group`` (``""``: top level),
        by name. A group that exists only through subcommands declared under
        it (``db copy`` without ``db``) is there too, with the ``group_help``."""
        prefix = f"{group} " if group else ""
        out: dict[str, Command] = {}
        for path, cmd in self.commands.items():
            if not path.startswith(prefix):
                continue
            head, _, rest = path[len(prefix) :].partition(" ")
            if not rest:
                out[head] = cmd
            elif head not in out:
                out[head] = Command(f"{prefix}{head}", "", cmd.group_help)
        return {name: out[name] for name in sorted(out)}


_declared: Declarations | None = None


def declared(warn: Callable[[str], None] | None = None) -> Declarations:
    """Read the ``az.commands`` entry points, once per process: each names a
    tuple of :class:`Command`. A plugin disabled by ``AZ_LOAD_PLUGINS``/
    ``AZ_DISABLE_PLUGINS`` is left out; one whose declaration fails to load is
    reported through ``warn`` (default: one ``az: warning:`` line on stderr)
    and asked the old way, through its ``az_register_commands`` hook.

    Declarations are kept in ``<az home>/cache/commands-<crc>.json`` with the
    modification time of the module that holds each, and imported again only
    when that file changed (or the entry point did), so ``az --help`` usually
    imports no plugin module at all."""
    global _declared
    if _declared is None:
        warn = warn or _warn
        from az_os.entrypoints import declared_entry_points, plugin_enabled

        cache = _DeclarationCache()
        found = Declarations()
        for ep in sorted(declared_entry_points(COMMANDS_GROUP), key=lambda e: e.name):
            if ep.name in found.plugins or not plugin_enabled(ep):
                continue
            commands = cache.get(ep.name, ep.value)
            if commands is None:
                commands = _load_declaration(ep, warn)
                if commands is None:
                    continue
                cache.put(ep.name, ep.value, commands)
            found.plugins.add(ep.name)
            for cmd in commands:
                found.commands.setdefault(" ".join(cmd.name.split()), cmd)
        cache.save()
        _declared = found
    return _declared


def _load_declaration(ep: Any, warn: Callable[[str], None]) -> tuple[Command, ...] | None:
    from az_os.util import error_line

    try:
        commands = tuple(ep.load())
        bad = [c for c in commands if not isinstance(c, Command)]
        if bad:
            raise TypeError(f"not an az_os.commands.Command: {bad[0]!r}")
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is isolated
        warn(f"plugin '{ep.name}' ({ep.value}): commands not read: {error_line(exc)}")
        return None
    return commands


class _DeclarationCache:
    """Declarations read before, each with the path and modification time
    (ns) of the module that holds it; one file per interpreter."""

    def __init__(self) -> None:
        import os
        import sys
        import zlib

        from az_os.entrypoints import cache_dir, read_cache_file

        name = f"commands-{zlib.crc32(sys.executable.encode()):08x}.json"
        self.path = os.path.join(cache_dir(), name)
        data = read_cache_file(self.path)
        self.entries: dict[str, Any] = data if isinstance(data, dict) else {}
        self.changed = False

    def get(self, plugin: str, value: str) -> tuple[Command, ...] | None:
        import os

        entry = self.entries.get(plugin)
        if not isinstance(entry, dict) or entry.get("value") != value:
            return None
        try:
            if os.stat(entry["file"]).st_mtime_ns != entry["mtime"]:
                return None
            return tuple(Command(*row) for row in entry["commands"])
        except (OSError, KeyError, TypeError):
            return None

    def put(self, plugin: str, value: str, commands: tuple[Command, ...]) -> None:
        import os
        import sys

        module = sys.modules.get(value.partition(":")[0].strip())
        path = getattr(module, "__file__", None)
        if not path:
            return
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return
        rows = [[c.name, c.target, c.help, c.group_help] for c in commands]
        self.entries[plugin] = {"value": value, "file": path, "mtime": mtime, "commands": rows}
        self.changed = True

    def save(self) -> None:
        if self.changed:
            from az_os.entrypoints import write_cache_file

            write_cache_file(self.path, self.entries)


def load_declared(path: str, cmd: Command) -> Any:
    """The click command for the declared command at ``path``: ``cmd.target``
    imported and converted as ``app.add_typer``/``app.command`` would, with the
    subcommands other plugins declare under it added. A target that fails to
    import or is not a command raises :class:`~az_os.errors.AzError` naming
    the command and the error, one line."""
    try:  # typer 0.28 parses with its own copy of click; older typer uses click itself
        from typer import _click as click
    except ImportError:  # pragma: no cover
        import click  # type: ignore[no-redef, import-not-found, unused-ignore]

    name = path.rsplit(" ", 1)[-1]
    if cmd.target:
        obj = _import_target(path, cmd.target)
        holder = typer.Typer(rich_markup_mode=None)
        if isinstance(obj, typer.Typer):
            holder.add_typer(obj, name=name)
        elif isinstance(obj, click.Command):
            return _with_declared_children(path, obj)
        elif callable(obj):
            holder.command(name)(obj)
        else:
            from az_os.errors import AzError

            raise AzError(
                f"'az {path}' could not be loaded: {cmd.target} is a "
                f"{type(obj).__name__}, not a typer app, click command or function"
            )
        loaded = typer.main.get_group(holder).commands[name]
    else:  # a group made only of subcommands declared under it
        loaded = typer.core.TyperGroup(name=name, help=cmd.help, no_args_is_help=True)
    return _with_declared_children(path, loaded)


def _import_target(path: str, target: str) -> Any:
    from az_os.util import error_line

    modname, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(modname)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - any failure is the plugin's, one line
        from az_os.errors import AzError

        raise AzError(f"'az {path}' could not be loaded from {target}: {error_line(exc)}") from exc
    return obj


def _with_declared_children(path: str, cmd: Any) -> Any:
    children = declared().children(path)
    if children and not hasattr(cmd, "commands"):
        return cmd
    for sub, decl in children.items():
        if sub not in cmd.commands:
            cmd.commands[sub] = load_declared(f"{path} {sub}", decl)
    return cmd


def undeclared_plugins() -> bool:
    """Whether an enabled plugin (``az`` entry point) declares no commands:
    then the command tree needs the old way, its ``az_register_commands``."""
    from az_os.entrypoints import ENTRY_POINT_GROUP, declared_entry_points, plugin_enabled

    names = declared().plugins
    return any(
        ep.name not in names and plugin_enabled(ep)
        for ep in declared_entry_points(ENTRY_POINT_GROUP)
    )


_plugin_app: typer.Typer | None = None


def plugin_commands() -> typer.Typer:
    """The commands plugins add through ``az_register_commands`` (plugins
    that declare no ``az.commands``), collected once per process on a typer
    app of their own; also where such a plugin's subcommands of a kernel
    group (``task_app.command("submit")``) get registered. When every plugin
    declares its commands, no plugin is loaded. A plugin that fails here is
    reported on stderr (``az: warning: ...``)."""
    global _plugin_app
    if _plugin_app is None:
        import sys

        def warn(msg: str) -> None:
            sys.stderr.write(f"az: warning: {msg}\n")

        app = typer.Typer(rich_markup_mode=None)
        if undeclared_plugins():
            from az_os.plugins import get_host

            get_host(warn).register_commands(app, warn=warn, skip=declared().plugins)
        _plugin_app = app
    return _plugin_app


def forget_commands() -> None:
    """Read the declarations and the hooks again (tests, after installing)."""
    global _declared, _plugin_app
    _declared = None
    _plugin_app = None


class DeclaredCommandsGroup(typer.core.TyperGroup):
    """A command group whose subcommands may come from plugins: the ones
    they declare (``az.commands``), imported only when one runs or shows its
    own help, and the ones older plugins add through their
    ``az_register_commands`` hook, asked only when a name is not found
    otherwise or the whole list is shown (and only when such a plugin is
    installed). ``az_path`` is the group's path under ``az`` (``""`` for
    ``az`` itself)."""

    az_path = ""
    _hooks_asked = False
    #: while the command list is being written (help, completion): declared
    #: commands are shown from their declaration, not imported
    _listing = False

    def _declared_children(self) -> dict[str, Command]:
        return declared().children(self.az_path)

    def _ask_hooks(self) -> None:
        """Add what ``az_register_commands`` hooks add to this group (once)."""
        if self._hooks_asked:
            return
        self._hooks_asked = True
        source = _hook_group(self.az_path)
        if source is None:
            return
        for name, cmd in source.items():
            self.commands.setdefault(name, cmd)

    def _add_plugin_commands(self, ctx: Any = None) -> None:
        """Every plugin subcommand, loaded, here and in the groups below
        (tests walk the whole tree)."""
        for name in self._declared_children():
            self.get_command(ctx, name)
        self._ask_hooks()
        for cmd in list(self.commands.values()):
            if isinstance(cmd, DeclaredCommandsGroup):
                cmd._add_plugin_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        decl = self._declared_children().get(cmd_name)
        if decl is not None:
            if self._listing:
                return _Listed(cmd_name, decl.help)
            path = f"{self.az_path} {cmd_name}".strip()
            cmd = self.commands[cmd_name] = load_declared(path, decl)
            return cmd
        self._ask_hooks()
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._ask_hooks()
        return sorted(set(self.commands) | set(self._declared_children()))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        self._listing = True
        try:
            return super().shell_complete(ctx, incomplete)
        finally:
            self._listing = False


def _Listed(name: str, help: str) -> Any:  # noqa: N802 - stands for a command class
    """A declared command as its parent's list shows it: name and help only."""
    return typer.core.TyperCommand(name=name, help=help, add_help_option=False)


def _warn(msg: str) -> None:
    import sys

    sys.stderr.write(f"az: warning: {msg}\n")


def _hook_group(path: str) -> dict[str, Any] | None:
    """The commands the hooks added at ``path`` (``""``: the root app; a
    kernel group's name: what they registered on that group)."""
    app = plugin_commands()
    if path == "":
        if not (app.registered_groups or app.registered_commands):
            return None
        return dict(typer.main.get_group(app).commands)
    source = _GROUPS.get(path)
    if source is None:
        return None
    return dict(typer.main.get_group(source).commands)


class PluginExtensibleGroup(DeclaredCommandsGroup):
    """A kernel command group that plugins may add subcommands to: declared
    (``Command("task submit", ...)``) or, the old way, in
    ``az_register_commands``:
    ``from az_os.commands import task_app; task_app.command("submit")(fn)``.
    ``az task list`` still loads no plugin."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.az_path = self.name or ""


task_app = typer.Typer(
    help="Run, inspect and manage tasks.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=PluginExtensibleGroup,
)
log_app = typer.Typer(
    help="Show and export task logs.", no_args_is_help=True, rich_markup_mode=None
)

#: Kernel groups plugins may extend, by the name they have under ``az``.
_GROUPS: dict[str, typer.Typer] = {"task": task_app}

#: Modules that add commands to the groups above or to the root app.
#: Each defines ``register(app)`` (root app) and may use ``task_app``/``log_app``.
COMMAND_MODULES = (
    "az_os.commands.tasks",
    "az_os.commands.run",
    "az_os.commands.models",
    "az_os.commands.tools",
)


def register_all(app: typer.Typer) -> None:
    """Add the kernel's command groups to ``app``; a module that is not
    there yet is skipped."""
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        mod.register(app)
    app.add_typer(task_app, name="task")
    app.add_typer(log_app, name="log")
