"""``az task list/show/delete`` and ``az log show/export``, over any storage backend.

Only the storage contract is used (:func:`az_os.drivers.get_storage` and
:class:`~az_os.storage.Storage` methods), so these commands work the same on
every backend. Module imports are kept to typer: the storage backend and
rich are imported inside the commands (``az task list`` has a
200 ms end-to-end budget).

Errors a user can cause (unknown task id, bad ``--status``/``--since``,
unreadable database) are :class:`~az_os.errors.AzError` subclasses: one line,
non-zero exit.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from az_os.commands import log_app, task_app
from az_os.errors import AzError, UsageError
from az_os.util import PRIORITIES, format_usd, one_line, process_alive

if TYPE_CHECKING:  # pragma: no cover
    from az_os.storage import Storage
    from az_os.types import Task, Turn

STATUSES = ("initialized", "pending", "running", "completed", "failed", "cancelled", "interrupted")
LEVELS = ("debug", "info", "warning", "error")
EXPORT_FORMATS = ("json", "jsonl", "csv")


def register(app: typer.Typer) -> None:
    """Commands live on ``task_app``/``log_app``; nothing to add at the root."""


# -- helpers ---------------------------------------------------------------
def _storage() -> Storage:
    from az_os.drivers import get_storage

    return get_storage()


def _choice(value: str | None, choices: tuple[str, ...], option: str) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v not in choices:
        raise UsageError(f"invalid {option} '{value}': one of {', '.join(choices)}")
    return v


def _resolve(storage: Storage, task_id: str) -> Task:
    """The task with this id or unique id prefix, else NotFoundError."""
    from az_os.errors import NotFoundError

    task = storage.get_task(task_id.strip())
    if task is None:
        raise NotFoundError(
            f"no task with id or unique id prefix '{task_id}' (ids are shown by 'az task list')"
        )
    return task


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_AGE_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """Parse ``--since``: an ISO 8601 date or date-time, or an age.

    * ``2026-11-21``, ``2026-11-21T14:30``, ``2026-11-21 14:30:05``: local
      time; add ``Z`` or ``+02:00`` for an explicit offset.
    * ``90s``, ``15m``, ``2h``, ``7d``, ``1w``: that long before now.

    Returns a tz-aware UTC datetime. Raises :class:`UsageError` (one line, exit 2) for
    anything else.
    """
    from datetime import UTC, timedelta

    now = now or datetime.now(UTC)
    m = _AGE.match(value)
    if m:
        try:
            return now - timedelta(seconds=float(m.group(1)) * _AGE_SECONDS[m.group(2).lower()])
        except (OverflowError, ValueError):
            raise UsageError(
                f"invalid --since '{value}': that is before the year 1 (give at most "
                f"{(now - datetime.min.replace(tzinfo=UTC)).days}d)"
            ) from None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"invalid --since '{value}': give an ISO date/time (2026-11-21, 2026-11-21T14:30, "
            "add Z for UTC) or an age (30m, 2h, 7d)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # naive = local time
    return dt.astimezone(UTC)


def _local(dt: datetime | None, seconds: bool = False) -> str:
    if dt is None:
        return ""
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _plain(markup: str) -> str:
    return re.sub(r"\[/?[a-z ]*\]", "", markup)


def _without_task_id(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("task_id", None)
    return row


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


_STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "running": "cyan",
    "interrupted": "yellow",
    "cancelled": "dim",
    "pending": "blue",
    "initialized": "blue",
}
_LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}


# -- az task list ----------------------------------------------------------
@task_app.command("list")
def task_list(
    status: str = typer.Option(
        None, "--status", "-s", help=f"Only tasks in this state: {', '.join(STATUSES)}."
    ),
    priority: str = typer.Option(
        None, "--priority", "-p", help=f"Only tasks of this priority: {', '.join(PRIORITIES)}."
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="Show at most this many tasks."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many (newest) tasks first."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List tasks, newest first: id, status, priority, model, tokens, cost (USD).

    Examples: 'az task list --status failed', 'az task list -n 50 --offset 50'.
    Ids can be shortened to any unique prefix in 'az task show ID'.

    JSON shape: [{"id", "description", "status", "priority", "model",
    "parent_task_id", "created_at", "started_at", "completed_at",
    "updated_at" (ISO 8601 UTC), "result", "error", "cost_usd" (USD),
    "prompt_tokens", "completion_tokens" (tokens), "workspace", "max_turns",
    "max_cost_usd", "approval", "pid", "host"}], the fields of a Task.
    """
    st = _choice(status, STATUSES, "--status")
    pr = _choice(priority, PRIORITIES, "--priority")
    storage = _storage()
    tasks = storage.list_tasks(status=st, priority=pr, limit=limit, offset=offset)  # type: ignore[arg-type]
    if as_json:
        _print_json([t.to_dict() for t in tasks])
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(emoji=False, highlight=False)  # descriptions are shown as typed
    total = storage.count_tasks(status=st, priority=pr)  # type: ignore[arg-type]
    if not tasks:
        if total:
            console.print(f"No tasks at offset {offset} ({total} match).")
        elif st or pr:
            console.print("No tasks match these filters.")
        else:
            console.print('No tasks yet. Start one with: [bold]az task run "what to do"[/]')
        return
    rows = []
    for t in tasks:
        s = t.status.value
        rows.append(
            [
                t.id,
                f"[{_STATUS_STYLE[s]}]{s}[/]" if _STATUS_STYLE.get(s) else s,
                t.priority.value,
                t.created_at.astimezone().strftime("%m-%d %H:%M"),
                escape(one_line(t.model or "-", 22)),
                f"{t.total_tokens:,}",
                format_usd(t.cost_usd, min_decimals=4),
                escape(one_line(t.description, 200)),
            ]
        )
    table = Table(box=None, header_style="bold", pad_edge=False)
    heads = ("id", "status", "priority", "created", "model", "tokens", "cost")
    for i, head in enumerate(heads):
        width = max(len(head), *(len(_plain(r[i])) for r in rows))
        table.add_column(
            head,
            no_wrap=True,
            min_width=width,
            justify="right" if head in ("tokens", "cost") else "left",
        )
    table.add_column("description", no_wrap=True, overflow="ellipsis", ratio=1, min_width=12)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    if total > offset + len(tasks) or offset:
        more = f"; --offset {offset + len(tasks)} for more" if total > offset + len(tasks) else ""
        console.print(f"[dim]{offset + 1}-{offset + len(tasks)} of {total}{more}[/]")


# -- az task show ----------------------------------------------------------
def _turn_totals(turns: list[Turn]) -> dict[str, Any]:
    return {
        "turns": len(turns),
        "tool_calls": sum(len(t.tool_calls) for t in turns),
        "model_duration_ms": sum(t.model_duration_ms for t in turns),
        "tools_duration_ms": sum(t.tools_duration_ms for t in turns),
    }


@task_app.command("show")
def task_show(
    task_id: str = typer.Argument(..., metavar="ID", help="Task id or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show a task: its description, state, result, and every turn with the
    model's messages, tool calls and tool results, tokens and cost (USD).

    JSON shape: {"task": {Task fields, as in 'az task list --json'},
    "turns": [{"index", "model", "messages": [{"role", "content",
    "tool_calls", "tool_call_id", "name"}], "tool_calls": [{"id", "name",
    "arguments"}], "tool_results": [{"success", "result", "error",
    "metadata", "duration_ms"}], "usage": {"prompt_tokens",
    "completion_tokens", "cached_tokens", "cost_usd"}, "model_duration_ms",
    "tools_duration_ms", "created_at"}], "tool_usage": [{"tool_name",
    "invocation_count", "total_duration_ms"}], "totals": {"turns",
    "tool_calls", "prompt_tokens", "completion_tokens", "total_tokens",
    "cost_usd", "model_duration_ms", "tools_duration_ms"}}.
    """
    storage = _storage()
    task = _resolve(storage, task_id)
    turns = storage.list_turns(task.id)
    usage = storage.list_tool_usage(task.id)
    totals = {
        **_turn_totals(turns),
        "prompt_tokens": task.prompt_tokens,
        "completion_tokens": task.completion_tokens,
        "total_tokens": task.total_tokens,
        "cost_usd": task.cost_usd,
    }
    if as_json:
        _print_json(
            {
                "task": task.to_dict(),
                "turns": [_without_task_id(t.to_dict()) for t in turns],
                "tool_usage": [_without_task_id(u.to_dict()) for u in usage],
                "totals": totals,
            }
        )
        return
    _render_task(task, turns, totals)


def _render_task(task: Task, turns: list[Turn], totals: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    s = task.status.value
    style = _STATUS_STYLE.get(s) or "bold"
    console.print(f"[bold]task {task.id}[/]  [{style}]{s}[/]  priority {task.priority.value}")
    console.print(f"[bold]description[/] {escape(task.description)}")
    rows = [
        ("model", task.model or "-"),
        ("created", _local(task.created_at, True)),
        ("started", _local(task.started_at, True) or "-"),
        ("finished", _local(task.completed_at, True) or "-"),
        ("workspace", task.workspace or "-"),
        ("approval", task.approval),
        ("parent", task.parent_task_id or "-"),
        (
            "usage",
            f"{_n(totals['turns'], 'turn')}, {_n(totals['tool_calls'], 'tool call')}, "
            f"{task.prompt_tokens:,} prompt + {task.completion_tokens:,} completion tokens, "
            f"{format_usd(task.cost_usd, min_decimals=4)}",
        ),
    ]
    if task.max_cost_usd is not None:
        rows.append(("budget", format_usd(task.max_cost_usd, min_decimals=4)))
    for key, value in rows:
        console.print(f"[dim]{key:<11}[/] {escape(str(value))}")
    for t in turns:
        u = t.usage
        console.print(
            f"\n[bold cyan]turn {t.index}[/] [dim]· {escape(t.model or '-')} · "
            f"{u.prompt_tokens:,}+{u.completion_tokens:,} tokens · {format_usd(u.cost_usd, min_decimals=4)} · "
            f"model {t.model_duration_ms:,.0f} ms · tools {t.tools_duration_ms:,.0f} ms[/]"
        )
        results = {c.id: r for c, r in zip(t.tool_calls, t.tool_results, strict=False)}
        for m in t.messages:
            if m.role == "tool":
                continue
            if m.content:
                console.print(f"  [bold]{m.role}:[/] {escape(m.content.strip())}")
            for call in m.tool_calls:
                args = json.dumps(call.arguments, ensure_ascii=False)
                console.print(f"  [yellow]→ {escape(call.name)}[/] {escape(one_line(args, 300))}")
                r = results.get(call.id)
                if r is not None:
                    _print_result(console, r)
        shown = {c.id for m in t.messages for c in m.tool_calls}
        for call, r in zip(t.tool_calls, t.tool_results, strict=False):
            if call.id not in shown:
                args = json.dumps(call.arguments, ensure_ascii=False)
                console.print(f"  [yellow]→ {escape(call.name)}[/] {escape(one_line(args, 300))}")
                _print_result(console, r)
    if task.result:
        console.print(f"\n[bold green]result[/]\n{escape(task.result)}")
    if task.error:
        console.print(f"\n[bold red]error[/] {escape(task.error)}")


def _print_result(console: Any, r: Any) -> None:
    from rich.markup import escape

    if r.success:
        text = (
            r.result
            if isinstance(r.result, str)
            else json.dumps(r.result, ensure_ascii=False, default=str)
        )
        console.print(
            f"  [green]← ok[/] [dim]({r.duration_ms:,.0f} ms)[/] {escape(one_line(text, 300))}"
        )
    else:
        console.print(
            f"  [red]← failed[/] [dim]({r.duration_ms:,.0f} ms)[/] {escape(one_line(r.error, 300))}"
        )


# -- az task delete --------------------------------------------------------
@task_app.command("delete")
def task_delete(
    task_id: str = typer.Argument(..., metavar="ID", help="Task id or a unique prefix of it."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a task and everything recorded for it (turns, logs, costs,
    saved state, tool usage). Files the task changed in its workspace stay.
    A task that is still running here must be cancelled first."""
    import socket

    storage = _storage()
    task = _resolve(storage, task_id)
    if task.status.value == "running" and task.pid and task.host in (None, socket.gethostname()):
        if process_alive(task.pid):
            raise AzError(
                f"task {task.id} is running (pid {task.pid}); "
                f"'az task cancel {task.id}' stops it first"
            )
    if not yes:
        typer.confirm(
            f"Delete task {task.id} ({one_line(task.description, 60)}) "
            "and its turns, logs and costs?",
            abort=True,
        )
    if not storage.delete_task(task.id):
        from az_os.errors import NotFoundError

        raise NotFoundError(f"no task '{task.id}' (it was deleted meanwhile)")
    sys.stdout.write(f"deleted task {task.id}\n")


# -- az log show / export --------------------------------------------------
def _logs(level: str | None, since: str | None, task: str | None, limit: int | None) -> list[Any]:
    lv = _choice(level, LEVELS, "--level")
    since_dt = parse_since(since) if since else None
    storage = _storage()
    task_id = _resolve(storage, task).id if task else None
    return storage.list_logs(task_id=task_id, level=lv, since=since_dt, limit=limit)


_LEVEL_HELP = f"Minimum level: {', '.join(LEVELS)} (warning includes error)."
_SINCE_HELP = (
    "Only rows from this time on: 2026-11-21, 2026-11-21T14:30 (local; Z for UTC), "
    "or an age: 30m, 2h, 7d."
)


@log_app.command("show")
def log_show(
    level: str = typer.Option(None, "--level", "-l", help=_LEVEL_HELP),
    since: str = typer.Option(None, "--since", help=_SINCE_HELP),
    task: str = typer.Option(
        None, "--task", "-t", help="Only this task's rows (id or unique prefix)."
    ),
    limit: int = typer.Option(100, "--limit", "-n", min=0, help="Show the newest N rows (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """Show log rows, oldest first (the newest --limit of them).

    Examples: 'az log show --level warning --since 2h', 'az log show -t 3f9c'.

    JSON shape: [{"task_id": str|null, "timestamp": ISO 8601 UTC,
    "level": "debug"|"info"|"warning"|"error", "message": str}].
    """
    rows = _logs(level, since, task, limit or None)
    if as_json:
        _print_json([r.to_dict() for r in rows])
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not rows:
        console.print("No log rows match.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("time", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("message", ratio=1)
    for r in rows:
        style = _LEVEL_STYLE.get(r.level, "")
        lvl = f"[{style}]{r.level}[/]" if style else r.level
        table.add_row(_local(r.timestamp, True), lvl, r.task_id or "-", escape(r.message))
    console.print(table)


@log_app.command("export")
def log_export(
    fmt: str = typer.Option(
        ..., "--format", "-f", help="json (one array), jsonl (one object a line) or csv."
    ),
    output: str = typer.Option(
        ..., "--output", "-o", help="File to write ('-' for standard output)."
    ),
    level: str = typer.Option(None, "--level", "-l", help=_LEVEL_HELP),
    since: str = typer.Option(None, "--since", help=_SINCE_HELP),
    task: str = typer.Option(
        None, "--task", "-t", help="Only this task's rows (id or unique prefix)."
    ),
) -> None:
    """Export every matching log row, oldest first, to a file.

    Each row has task_id, timestamp (ISO 8601 UTC), level and message; csv
    has a header row with those names. Example:
    'az log export --format csv --output logs.csv --since 7d'.
    """
    f = _choice(fmt, EXPORT_FORMATS, "--format")
    rows = [r.to_dict() for r in _logs(level, since, task, None)]
    if output == "-":
        _write_rows(sys.stdout, f, rows)
        return
    path = Path(output).expanduser()
    try:
        with path.open("w", encoding="utf-8", newline="") as fh:
            _write_rows(fh, f, rows)
    except OSError as exc:
        raise AzError(f"cannot write {path}: {exc.strerror or exc}") from None
    sys.stderr.write(f"wrote {len(rows)} log rows to {path}\n")


def _write_rows(fh: Any, fmt: str | None, rows: list[dict[str, Any]]) -> None:
    if fmt == "json":
        json.dump(rows, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    elif fmt == "jsonl":
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    else:
        import csv

        writer = csv.DictWriter(fh, fieldnames=["task_id", "timestamp", "level", "message"])
        writer.writeheader()
        writer.writerows(rows)
