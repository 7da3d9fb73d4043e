"""Commands the kernel itself provides over its contracts.

``az task``/``az log`` work with any storage backend, ``az models``/``az ask``
with any model plugin, ``az tools`` with any tool plugin. Each module keeps
its imports light: heavy work is imported inside the command function.
"""

from __future__ import annotations

import importlib

import typer

task_app = typer.Typer(
    help="Run, inspect and manage tasks.", no_args_is_help=True, rich_markup_mode=None
)
log_app = typer.Typer(
    help="Show and export task logs.", no_args_is_help=True, rich_markup_mode=None
)

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
