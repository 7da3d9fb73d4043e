"""``az route``: see how az would route a task, and the rules in force."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from az_os.util import PRIORITIES

route_app = typer.Typer(
    help=(
        "Cost-aware routing: which model a task would go to, and why.\n\n"
        "Rules live in config.toml as [[router.rules]] tables "
        "(condition, tier or model, reason); see 'az route rules'."
    ),
    no_args_is_help=True,
)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@route_app.command("explain")
def explain(
    task: str = typer.Argument(..., help="The task text, as you would give it to 'az task run'."),
    priority: str = typer.Option("medium", "--priority", "-p", help="low, medium, high or urgent."),
    no_tools: bool = typer.Option(
        False,
        "--no-tools",
        help="Route as if no tools were offered (tools are offered by default).",
    ),
    max_tokens: int = typer.Option(
        None, "--max-tokens", help="Completion tokens per call (default: agent.max_tokens)."
    ),
    context_tokens: int = typer.Option(
        0, "--context-tokens", help="Extra prompt tokens to assume (system prompt, history, files)."
    ),
    turn: int = typer.Option(1, "--turn", help="Which turn of the task the call is (from 1)."),
    failed: list[str] = typer.Option(
        [], "--failed", help="Pretend this model already failed in the task (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Show how TASK would be routed: the complexity class and the features
    that decided it, the rules checked and the one that matched, every
    usable model with its tier, price, quality, success rate and score (or
    why it is excluded), and the model chosen. Nothing is sent to a model.

    Example: az route explain "fix the failing test in tests/test_io.py" --json

    JSON shape: {"task", "priority", "tokens", "needed_tokens",
    "complexity": {"class", "reason", "tokens", "words", "code_markers",
    "reasoning_markers", "long_markers"}, "rule": {"name", "condition",
    "tier"|"model", "reason"} | null, "rules_checked": [{"name", "matched",
    "note"?}], "start_tier", "tier", "escalation": [str], "skipped": [str],
    "candidates": [{"model", "tier", "blended_usd_per_1m", "eligible",
    "excluded_reason", "quality", "prior_success_rate", "success_rate",
    "samples", "cost_score", "score"}], "chosen" (model id or null), "reason", "history",
    "decision_ms"}. Prices are USD per 1M tokens (3:1 input:output blend).
    """
    from az_os.config import load_config
    from az_os.errors import ConfigError, UsageError
    from az_os.types import Message, ModelRequest, Task, TaskPriority, ToolSpec

    from az_router.current import get_engine
    from az_router.engine import usable_models

    if priority not in PRIORITIES:
        raise ConfigError(f"--priority must be one of {', '.join(PRIORITIES)}, got '{priority}'")
    if not task.strip():
        raise UsageError("the task text is empty: give the task as you would to 'az task run'")
    cfg = load_config()
    engine = get_engine()
    messages = [Message(role="user", content=task)]
    if context_tokens > 0:
        messages.insert(0, Message(role="system", content="x" * (context_tokens * 4)))
    tools = [] if no_tools else [ToolSpec(name="az.any_tool", description="a tool is offered")]
    request = ModelRequest(
        messages=messages,
        tools=tools,
        max_tokens=max_tokens or cfg.agent.max_tokens,
        metadata={
            "turn": turn,
            "max_turns": cfg.agent.max_turns,
            "failed_models": [{"model": m, "error": "given with --failed"} for m in failed],
            "escalate": bool(failed),
        },
    )
    t = Task(description=task, priority=TaskPriority(priority), max_turns=cfg.agent.max_turns)
    models = usable_models()
    if engine.history is not None:
        engine.history.outcomes()  # load the task history first: decision_ms is the decision alone
    decision = engine.decide(t, request, models)
    data = {"task": task, "priority": priority, **decision.to_dict()}
    if as_json:
        _print_json(data)
        return
    _print_explain(data)


def _print_explain(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cx = data["complexity"]
    console.print(f"[bold]class[/] {cx['class']}  ({cx['reason']})")
    feats = [
        f"{data['tokens']} prompt tokens (+ max_tokens = {data['needed_tokens']})",
        f"{cx['words']} words",
    ]
    for key in ("code_markers", "reasoning_markers", "long_markers"):
        if cx[key]:
            feats.append(f"{key.replace('_', ' ')}: {', '.join(cx[key])}")
    console.print("[bold]features[/] " + "; ".join(feats))
    rule = data["rule"]
    if rule:
        target = rule.get("tier") or rule.get("model")
        console.print(
            f"[bold]rule[/] {rule['name']}: {rule['condition']} -> {target}  ({rule['reason']})"
        )
    for skip in data["skipped"]:
        console.print(f"[dim]skipped[/] {skip}")
    for esc in data["escalation"]:
        console.print(f"[yellow]escalation[/] {esc}")
    table = Table(box=None, header_style="bold")
    for col in ("model", "tier", "USD/1M", "quality", "success", "cost", "score", "note"):
        table.add_column(col, justify="right" if col not in ("model", "tier", "note") else "left")
    for c in data["candidates"]:
        mark = "[green]*[/] " if c["model"] == data["chosen"] else "  "
        if c["eligible"]:
            succ = f"{c['success_rate']:.2f}" + (f" ({c['samples']})" if c["samples"] else "")
            table.add_row(
                mark + c["model"],
                c["tier"],
                f"{c['blended_usd_per_1m']:.3f}",
                f"{c['quality']:.2f}",
                succ,
                f"{c['cost_score']:.3f}",
                f"{c['score']:.3f}",
                "",
            )
        else:
            table.add_row(
                "  " + c["model"],
                c["tier"],
                f"{c['blended_usd_per_1m']:.3f}",
                "",
                "",
                "",
                "",
                f"[dim]{c['excluded_reason']}[/]",
            )
    if data["candidates"]:
        console.print(table)
    if data["chosen"]:
        console.print(f"[bold green]chosen[/] {data['chosen']}: {data['reason']}")
    else:
        console.print(
            f"[bold red]no model[/]: {data['reason']} (install az-local or az-litellm, "
            "or set an API key; see 'az models list')"
        )
    console.print(
        f"[dim]success rates from {data['history']}; decided in {data['decision_ms']:.3f} ms[/]"
    )


@route_app.command("rules")
def rules(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the routing rules in force (config [[router.rules]], else the
    defaults adapted from the design brief), in the order they are checked,
    and the tier price bands.

    JSON shape: {"rules": [{"name", "condition", "tier"|"model", "reason",
    "within" (only when set: a success-rate margin in [0, 1])}],
    "tiers": {"free": "0", "cheap": "< X", "mid": "< Y", "premium": ">= Y"}}
    (USD per 1M tokens, 3:1 input:output blend).
    """
    from az_router.current import get_engine

    engine = get_engine()
    b = engine.bands
    tiers = {
        "free": "0",
        "cheap": f"< {b['cheap_max']:g}",
        "mid": f"< {b['mid_max']:g}",
        "premium": f">= {b['mid_max']:g}",
    }
    rule_dicts = [r.to_dict() for r in engine.rules]
    if as_json:
        _print_json({"rules": rule_dicts, "tiers": tiers})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("#", "name", "condition", "target", "reason"):
        table.add_column(col)
    for i, r in enumerate(rule_dicts, 1):
        target = f"tier {r['tier']}" if "tier" in r else f"model {r['model']}"
        if "within" in r:
            target += f", within {r['within']:g} of the best"
        table.add_row(str(i), r["name"], r["condition"], target, r["reason"])
    console = Console()
    console.print(table)
    console.print(
        "tiers (blended USD per 1M tokens): " + ", ".join(f"{k} {v}" for k, v in tiers.items())
    )
