"""``az dashboard``: the command itself (declared in :mod:`az_tui.commandlist`).

This module imports only the kernel and typer; Textual is imported when the
dashboard runs, so ``az --help`` and ``az dashboard --help`` stay light.
"""

from __future__ import annotations

import typer

THEMES = ("dark", "light")
METRICS = ("all", "cost", "health", "tasks")


def dashboard(
    theme: str = typer.Option("dark", "--theme", help="Colours: dark or light."),
    metrics: str = typer.Option(
        "all",
        "--metrics",
        help="Which views to show: all (tasks, run, cost, health), tasks, cost or health.",
    ),
) -> None:
    """Watch, start, approve and inspect tasks; spend and health, live.

    Keys (also in the footer): 1-5 switch views (Tasks, Run, Cost, Health),
    / search, f cycle the status filter, Enter open a task, c cancel,
    r resume, u undo (when a checkpoint plugin is installed), Esc back,
    q quit. The mouse works too. Tasks started by other processes
    ('az task run' in another terminal, 'az serve') appear within a second.
    """
    from az_os.errors import ConfigError

    if theme not in THEMES:
        raise ConfigError(f"--theme must be dark or light, got '{theme}'")
    if metrics not in METRICS:
        raise ConfigError(f"--metrics must be all, cost, health or tasks, got '{metrics}'")
    from az_tui.app import run_dashboard

    run_dashboard(theme=theme, metrics=metrics)
