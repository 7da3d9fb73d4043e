"""Commands the kernel itself provides over its contracts.

``az task``/``az log`` work with any storage backend, ``az models``/``az ask``
with any model plugin, ``az tools`` with any tool plugin. Each module keeps
its imports light: heavy work is imported inside the command function.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.core

_plugin_app: typer.Typer | None = None


def plugin_commands() -> typer.Typer:
    """The commands plugins add (``az_register_commands``), collected once per
    process on a typer app of their own; also where a plugin's subcommands of
    a kernel group (``task_app.command("submit")``) get registered. A plugin
    that fails here is reported on stderr (``az: warning: ...``)."""
    global _plugin_app
    if _plugin_app is None:
        import sys

        from az_os.plugins import get_host

        def warn(msg: str) -> None:
            sys.stderr.write(f"az: warning: {msg}\n")

        _plugin_app = typer.Typer(rich_markup_mode=None)
        get_host(warn).register_commands(_plugin_app, warn=warn)
    return _plugin_app


class PluginExtensibleGroup(typer.core.TyperGroup):
    """A kernel command group that plugins may add subcommands to.

    A plugin does it in ``az_register_commands``:
    ``from az_os.commands import task_app; task_app.command("submit")(fn)``.
    The plugins' hooks run on the first subcommand name the kernel does not
    know (or when the list is asked for, ``az task --help``), so
    ``az task list`` still loads no plugin."""

    _plugins_added = False

    def _add_plugin_commands(self, ctx: Any) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        plugin_commands()
        source = _GROUPS.get(self.name or "")
        if source is None:
            return
        for name, cmd in typer.main.get_group(source).commands.items():
            self.commands.setdefault(name, cmd)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            self._add_plugin_commands(ctx)
            cmd = super().get_command(ctx, cmd_name)
        return cmd

    def list_commands(self, ctx: Any) -> list[str]:
        self._add_plugin_commands(ctx)
        return super().list_commands(ctx)


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
