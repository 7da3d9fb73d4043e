"""``az cost``: what model calls cost, and the budget that limits them.

Commands::

    az cost show [--period daily|weekly|monthly|all] [--by model|task|day] [--json]
    az cost budget set --amount USD [--period daily|weekly|monthly] [--alert PCT]
    az cost budget show [--json]
    az cost budget clear
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Any

import typer

cost_app = typer.Typer(
    help=(
        "What model calls cost (USD), and a hard budget that refuses a call before it "
        "could cross the limit.\n\n"
        "Examples:\n\n"
        "  az cost show --period monthly --by model\n\n"
        "  az cost budget set --amount 100 --alert 80   (USD per month, warn at 80%)\n\n"
        'Per-task caps: az task run "..." --max-cost 0.50'
    ),
    no_args_is_help=True,
)
budget_app = typer.Typer(
    help=(
        "Set, show or clear the spending budget ([cost] in config.toml). A model call whose "
        "worst case (prompt tokens x input price + max completion tokens x output price) could "
        "take the period's spending over the budget is refused before it is made; free local "
        "models are never refused."
    ),
    no_args_is_help=True,
)
cost_app.add_typer(budget_app, name="budget")


class PeriodChoice(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    all = "all"


class BudgetPeriodChoice(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class ByChoice(StrEnum):
    model = "model"
    task = "task"
    day = "day"


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _console() -> Any:
    from rich.console import Console

    return Console()


def _since_text(summary: dict[str, Any]) -> str:
    if summary["since"] is None:
        return "all time"
    from datetime import datetime

    since = datetime.fromisoformat(summary["since"])
    return f"{summary['period']} {summary['label']}, since {since:%Y-%m-%d %H:%M} local time"


def _budget_line(st: dict[str, Any]) -> str:
    from datetime import datetime

    from az_cost.budget import usd

    pct = f" ({st['percent_used']:.1f}%)" if st["percent_used"] is not None else ""
    resets = datetime.fromisoformat(st["resets"])
    alert = (
        f"; alert at {st['alert_pct']:g}% ({usd(st['alert_usd'])})"
        if st["alert_usd"] is not None
        else "; no alert"
    )
    return (
        f"Budget: {usd(st['spent_usd'])} of {usd(st['amount_usd'])} {st['period']} spent{pct}, "
        f"{usd(st['remaining_usd'])} left; resets {resets:%Y-%m-%d %H:%M}{alert}"
    )


@cost_app.command("show")
def show(
    period: PeriodChoice = typer.Option(
        PeriodChoice.daily,
        "--period",
        "-p",
        help="daily = today, weekly = this ISO week (from Monday), monthly = this calendar "
        "month, all = everything; in local time.",
    ),
    by: ByChoice = typer.Option(
        ByChoice.model, "--by", "-b", help="One row per model, per task, or per local day."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show what model calls cost in a period (USD), grouped by model, task or day.

    Each model call is one record: tokens in (of which cached) and out, and the USD the
    model's prices give. With a budget set, the budget line says how much of it is left.

    JSON shape: {"period", "label", "since" (ISO, null for all), "now", "by",
    "total_usd", "calls", "input_tokens", "output_tokens", "cached_tokens",
    "rows": [{"key", "description", "calls", "input_tokens", "output_tokens",
    "cached_tokens", "cost_usd"}], "budget": null | (see 'az cost budget show --json')}.
    """
    from az_os.config import load_config

    from az_cost.budget import status, usd
    from az_cost.tracker import CostTracker

    config = load_config()
    tracker = CostTracker(config=config)
    summary = tracker.summary(period.value, by.value)
    budget = status(config=config, tracker=tracker)
    summary["budget"] = budget
    if as_json:
        _print_json(summary)
        return
    console = _console()
    console.print(f"[bold]Cost[/], {_since_text(summary)}, by {by.value}")
    if not summary["rows"]:
        console.print("No model calls recorded in this period.")
    else:
        from rich.table import Table

        table = Table(box=None, header_style="bold")
        table.add_column(by.value)
        if by is ByChoice.task:
            table.add_column("description", max_width=40, overflow="ellipsis", no_wrap=True)
        for col in ("calls", "tokens in", "cached", "tokens out", "USD"):
            table.add_column(col, justify="right")
        for row in summary["rows"]:
            cells = [row["key"] or "(no task)"]
            if by is ByChoice.task:
                cells.append(row["description"] or "")
            cells += [
                f"{row['calls']:,}",
                f"{row['input_tokens']:,}",
                f"{row['cached_tokens']:,}",
                f"{row['output_tokens']:,}",
                usd(row["cost_usd"]),
            ]
            table.add_row(*cells)
        table.add_section()
        total = ["total"] + ([""] if by is ByChoice.task else [])
        total += [
            f"{summary['calls']:,}",
            f"{summary['input_tokens']:,}",
            f"{summary['cached_tokens']:,}",
            f"{summary['output_tokens']:,}",
            f"[bold]{usd(summary['total_usd'])}[/]",
        ]
        table.add_row(*total)
        console.print(table)
    if budget is not None:
        console.print(_budget_line(budget))


@budget_app.command("set")
def budget_set(
    amount: float = typer.Option(
        ...,
        "--amount",
        "-a",
        help="USD the model calls of one period may cost (0 = free models only).",
    ),
    period: BudgetPeriodChoice | None = typer.Option(
        None,
        "--period",
        "-p",
        help="daily, weekly (ISO week) or monthly (calendar month), local time. "
        "Default: keep the current one, else monthly.",
    ),
    alert: float | None = typer.Option(
        None,
        "--alert",
        help="Warn once per period at this percent of the budget (0 = never). "
        "Default: keep the current one, else 80.",
    ),
) -> None:
    """Set the budget: no model call may take the period's spending over --amount USD.

    Written to [cost] in config.toml (budget_usd, budget_period, alert_pct).
    Example: az cost budget set --amount 100 --alert 80
    """
    from az_os.config import config_path, load_config, set_value
    from az_os.errors import PluginMissingError

    from az_cost.budget import status, usd
    from az_cost.settings import SECTION, validate_settings

    config = load_config()
    current = config.section(SECTION)
    new = dict(current)
    new["budget_usd"] = amount
    if period is not None:
        new["budget_period"] = period.value
    if alert is not None:
        new["alert_pct"] = alert
    path = config_path()
    validate_settings(new, f"az cost budget set ({path})")
    set_value(f"{SECTION}.budget_usd", float(amount), path)
    if period is not None:
        set_value(f"{SECTION}.budget_period", period.value, path)
    if alert is not None:
        set_value(f"{SECTION}.alert_pct", float(alert), path)
    try:
        st = status(config=load_config())
    except PluginMissingError as exc:  # the budget is set; spending cannot be read yet
        sys.stdout.write(f"Budget set: {usd(amount)} ({path}); {exc}\n")
        return
    assert st is not None
    sys.stdout.write(_budget_line(st) + f"  ({path})\n")


@budget_app.command("show")
def budget_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a sentence."),
) -> None:
    """Show the budget, how much of this period's budget is spent, and when it resets.

    JSON shape: {"budget": null} without a budget, else {"budget": {"amount_usd",
    "period", "alert_pct", "alert_usd", "label", "since", "resets", "spent_usd",
    "remaining_usd", "percent_used", "alerted"}} (money in USD, times ISO 8601 local).
    """
    from az_cost.budget import status

    st = status()
    if as_json:
        _print_json({"budget": st})
        return
    if st is None:
        sys.stdout.write(
            "No budget set. Set one with: az cost budget set --amount 100 --alert 80\n"
        )
        return
    sys.stdout.write(_budget_line(st) + "\n")


@budget_app.command("clear")
def budget_clear() -> None:
    """Remove the budget (model calls are then limited only by per-task --max-cost caps)."""
    from az_os.config import config_path, unset_value

    from az_cost.settings import SECTION

    path = config_path()
    removed = [
        key
        for key in ("budget_usd", "budget_period", "alert_pct")
        if unset_value(f"{SECTION}.{key}", path)
    ]
    if removed:
        sys.stdout.write(f"Budget cleared ({path})\n")
    else:
        sys.stdout.write("No budget was set.\n")
