"""How tasks and turns look: Rich renderables and cell texts, no Textual."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from az_os.types import Task, TaskStatus, Turn
from rich.console import Group
from rich.text import Text

from az_tui.data import age

STATUS_STYLE = {
    TaskStatus.INITIALIZED: "dim",
    TaskStatus.PENDING: "yellow",
    TaskStatus.RUNNING: "bold cyan",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CANCELLED: "magenta",
    TaskStatus.INTERRUPTED: "bold red",
}

#: Columns of the Tasks table: (key, label, width or None for the rest).
TASK_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("id", "id", 8),
    ("status", "status", 11),
    ("model", "model", 14),
    ("turns", "turns", 5),
    ("tokens", "tokens", 6),
    ("usd", "USD", 8),
    ("age", "age", 3),
    ("task", "task", None),
)


def tokens(n: int) -> str:
    """``950``, ``12.3k``, ``4.5M``."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def usd(x: float) -> str:
    """USD with 4 decimals below $1, 2 from then on."""
    return f"${x:.4f}" if abs(x) < 1 else f"${x:,.2f}"


def short(value: Any, width: int) -> str:
    """One line of at most ``width`` characters (JSON for non-strings)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def status_text(status: TaskStatus) -> Text:
    return Text(status.value, style=STATUS_STYLE.get(status, ""))


def task_cells(task: Task, turns: int, now: datetime, desc_width: int = 60) -> list[Any]:
    """The Tasks table row of ``task``, in :data:`TASK_COLUMNS` order."""
    return [
        task.id[:8],
        status_text(task.status),
        short(task.model or "-", 14),
        Text(str(turns), justify="right"),
        Text(tokens(task.prompt_tokens + task.completion_tokens), justify="right"),
        Text(usd(task.cost_usd), justify="right"),
        Text(age(task.created_at, now), justify="right"),
        short(task.description, desc_width),
    ]


def task_header(task: Task, turns: int, now: datetime) -> Text:
    """The detail view's summary of ``task``."""
    t = Text()
    t.append(f"task {task.id}  ", style="bold")
    t.append_text(status_text(task.status))
    t.append(f"  {task.model or 'no model yet'}  ·  {turns} turns  ·  ")
    t.append(
        f"{tokens(task.prompt_tokens)} prompt + {tokens(task.completion_tokens)} completion tokens"
    )
    t.append(f"  ·  {usd(task.cost_usd)}  ·  {age(task.created_at, now)} ago  ·  ")
    t.append(f"approve {task.approval}\n", style="dim")
    t.append(task.description + "\n")
    t.append(f"workspace {task.workspace or '-'}", style="dim")
    if task.result:
        t.append("\nanswer: ", style="bold green")
        t.append(short(task.result, 400))
    if task.error:
        t.append("\nerror: ", style="bold red")
        t.append(short(task.error, 400))
    return t


def turn_renderable(turn: Turn, width: int = 120) -> Group:
    """Everything about one turn: model, tokens, USD and durations; the
    thought (or the answer); each tool call with its arguments and its
    observation (result or error, cut to one line)."""
    u = turn.usage
    head = Text()
    head.append(f"turn {turn.index}", style="bold cyan")
    head.append(f"  {turn.model or '-'}  {u.prompt_tokens:,}+{u.completion_tokens:,} tokens")
    head.append(f"  {usd(u.cost_usd)}  model {turn.model_duration_ms:,.0f} ms", style="dim")
    if turn.tool_calls:
        head.append(f"  tools {turn.tools_duration_ms:,.0f} ms", style="dim")
    lines: list[Text] = [head]
    thought = next((m.content for m in turn.messages if m.role == "assistant" and m.content), None)
    if thought:
        label = "thought " if turn.tool_calls else "answer "
        line = Text("  ")
        line.append(label, style="dim" if turn.tool_calls else "bold green")
        line.append(short(thought, max(20, width * 3)))
        lines.append(line)
    for i, call in enumerate(turn.tool_calls):
        line = Text("  → ", style="yellow")
        line.append(call.name, style="bold")
        line.append(" " + short(call.arguments, max(20, width - 8 - len(call.name))))
        lines.append(line)
        if i < len(turn.tool_results):
            r = turn.tool_results[i]
            obs = Text("  ← ", style="green" if r.success else "red")
            body = r.result if r.success else r.error
            obs.append(short(body if body is not None else "", max(20, width * 2)))
            obs.append(f"  ({r.duration_ms:,.0f} ms)", style="dim")
            lines.append(obs)
    return Group(*lines)


def event_line(event: dict[str, Any]) -> Text | None:
    """One line for the Run view's log of an engine event (None: not shown)."""
    kind, data = event["type"], event.get("data", {})
    if kind == "created":
        return Text(f"task {event['task_id']} created", style="dim")
    if kind == "model_call":
        return Text(f"turn {data['turn']} · {data['model']}", style="bold cyan")
    if kind == "tool_call":
        line = Text("  → ", style="yellow")
        line.append(short(data.get("description") or data.get("name", ""), 200))
        return line
    if kind == "tool_result":
        ok = data.get("success")
        line = Text("  ← ", style="green" if ok else "red")
        line.append(short(data.get("result") if ok else data.get("error"), 200))
        return line
    if kind == "completed":
        line = Text("completed: ", style="bold green")
        line.append(short(data.get("result") or "", 400))
        return line
    if kind in ("failed", "cancelled", "interrupted"):
        line = Text(f"{kind}: ", style="bold red" if kind != "cancelled" else "bold magenta")
        line.append(short(data.get("error") or "", 400))
        return line
    if kind == "warning":
        return Text(f"warning: {data.get('message')}", style="yellow")
    return None
