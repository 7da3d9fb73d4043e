"""``az task run``, ``az task resume`` and ``az task cancel``: the main job."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from az_os.commands import task_app
from az_os.util import one_line

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from rich.console import Console

    from az_os.types import Task

    #: ``claim(stop) -> release``: see :func:`_run`
    Claim = Callable[[Callable[[], None]], Callable[[], None]]


def register(app: typer.Typer) -> None:
    """Commands live on ``task_app``; nothing to add at the root."""


def _summary(task: Task, turns: int, tool_calls: int) -> dict[str, Any]:
    return {
        "id": task.id,
        "status": task.status.value,
        "result": task.result,
        "error": task.error,
        "model": task.model,
        "turns": turns,
        "tool_calls": tool_calls,
        "prompt_tokens": task.prompt_tokens,
        "completion_tokens": task.completion_tokens,
        "cost_usd": task.cost_usd,
        "workspace": task.workspace,
        "description": task.description,
    }


def _show_event(console: Console, event: dict[str, Any]) -> None:
    from rich.markup import escape

    kind, data = event["type"], event["data"]
    if kind == "created":
        console.print(f"[dim]task {event['task_id']} created[/]")
    elif kind == "resumed":
        console.print(
            f"[dim]task {event['task_id']} resumed after {data.get('turns_done', 0)} turns[/]"
        )
    elif kind == "model_call":
        console.print(f"[bold cyan]turn {data['turn']}[/] [dim]· {escape(data['model'])}[/]")
    elif kind == "turn" and data.get("tool_calls") and data.get("thought"):
        pass  # the thought was shown with the tool call
    elif kind == "tool_call":
        console.print(f"  [yellow]→[/] {escape(one_line(data.get('description') or data['name']))}")
    elif kind == "tool_result":
        if data["success"]:
            console.print(f"  [green]←[/] [dim]{escape(one_line(data.get('result'), 140))}[/]")
        else:
            console.print(f"  [red]←[/] {escape(one_line(data.get('error'), 140))}")
    elif kind == "warning":
        console.print(f"[yellow]warning:[/] {escape(str(data.get('message')))}")


def _run(coro_factory: Any, as_json: bool, claim: Claim | None = None) -> None:
    """Run the engine, showing progress; Ctrl-C cancels the task and exits
    130; SIGTERM stops it the same way, marks it ``interrupted`` and exits 143.
    ``claim(stop)``, when given, is called before the run starts with a
    thread-safe function that stops it like Ctrl-C; it returns the function
    that gives the claim up, called when the run ends."""
    import asyncio

    from rich.console import Console

    console = Console(stderr=True) if as_json else Console()
    task_id = ""

    async def consume() -> None:
        nonlocal task_id
        async for event in coro_factory():
            task_id = event["task_id"]
            if not as_json:
                _show_event(console, event)

    import os
    import signal

    from az_os.engine import request_termination

    loop = asyncio.new_event_loop()
    main = loop.create_task(consume())

    def stop() -> None:
        loop.call_soon_threadsafe(main.cancel)

    try:
        release = claim(stop) if claim is not None else None
    except BaseException:
        main.cancel()
        loop.run_until_complete(asyncio.gather(main, return_exceptions=True))
        raise
    terminated = False

    def on_sigterm() -> None:
        # kill, systemd, a container runtime: stop like Ctrl-C (the running
        # tool's process group is killed), but leave the task interrupted,
        # not cancelled, so it reads as "stopped from outside, resumable".
        nonlocal terminated
        terminated = True
        request_termination()
        main.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, main.cancel)
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (NotImplementedError, RuntimeError):  # Windows: KeyboardInterrupt below
        pass
    cancelled = False
    try:
        loop.run_until_complete(main)
    except (asyncio.CancelledError, KeyboardInterrupt):
        if not main.done():
            main.cancel()
            try:
                loop.run_until_complete(main)
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        cancelled = True
    finally:
        if release is not None:
            release()
    if cancelled:
        what = "[yellow]interrupted (SIGTERM)[/]" if terminated else "[yellow]cancelled[/]"
        console.print(f"{what} task {task_id} ('az task resume {task_id or 'ID'}' continues it)")
        sys.stdout.flush()
        sys.stderr.flush()
        # The task is recorded. A model call may still be running in a worker
        # thread; do not wait for it to finish before giving the terminal back.
        # 128 + the signal number, as a shell reports a process it stopped.
        os._exit(143 if terminated else 130)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def _finish(task_id: str, as_json: bool) -> None:
    from az_os.drivers import get_storage

    storage = get_storage()
    task = storage.get_task(task_id)
    assert task is not None
    turns = storage.list_turns(task_id)
    tool_calls = sum(len(t.tool_calls) for t in turns)
    summary = _summary(task, len(turns), tool_calls)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.panel import Panel

        console = Console()
        if task.status.value == "completed":
            console.print(
                Panel(escape(task.result or "(empty answer)"), title="answer", border_style="green")
            )
        else:
            console.print(f"[red]{task.status.value}:[/] {escape(task.error or '')}")
        console.print(
            f"[dim]{task.status.value} · {len(turns)} turns · {tool_calls} tool calls · "
            f"{task.prompt_tokens:,} prompt + {task.completion_tokens:,} completion tokens · "
            f"${task.cost_usd:.4f} · {task.model or 'no model'} · task {task.id}[/]"
        )
    code = {"completed": 0, "cancelled": 130}.get(task.status.value, 1)
    if code:
        raise typer.Exit(code)


def _install_prompter(approve: str) -> None:
    """On a terminal in ``ask`` mode, ask the user before writes and shell commands."""
    from az_os.default_plugins import policy

    if approve != "ask" or not sys.stdin.isatty():
        policy.set_prompter(None)
        return

    def ask(task: Task, description: str) -> bool:
        from rich.console import Console
        from rich.markup import escape
        from rich.prompt import Confirm

        Console().print(f"  [bold yellow]approve?[/] {escape(description)}")
        return Confirm.ask("  run it", default=False)

    policy.set_prompter(ask)


@task_app.command("run")
def task_run(
    description: str = typer.Argument(..., help="What the agent should do, in plain words."),
    model: str = typer.Option(
        None, "--model", "-m", help="Model id or alias (default: routed; see 'az models list')."
    ),
    priority: str = typer.Option("medium", "--priority", "-p", help="low, medium, high or urgent."),
    max_turns: int = typer.Option(
        None,
        "--max-turns",
        min=1,
        max=100,
        help="ReAct turns before giving up (default: agent.max_turns, 5).",
    ),
    workspace: str = typer.Option(
        None,
        "--workspace",
        "-w",
        help="Directory the tools are confined to (default: the current directory).",
    ),
    approve: str = typer.Option(
        None,
        "--approve",
        help="ask (prompt before writes/shell), auto, or read-only (default: agent.approve).",
    ),
    max_cost: float = typer.Option(
        None, "--max-cost", min=0.0, help="Refuse model calls that could take this task past USD."
    ),
    tools: list[str] = typer.Option(
        None,
        "--tools",
        help="Offer only tools matching this pattern (repeatable), e.g. 'filesystem.*'.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object at the end (progress goes to stderr)."
    ),
) -> None:
    """Run a task: the agent reasons, calls tools and answers; every turn is recorded.

    Exit code 0 when the task completed, 1 when it failed, 2 for bad input
    (an empty description, an unknown --approve), 130 when cancelled
    (Ctrl-C). JSON shape: {"id", "status", "result", "error", "model", "turns",
    "tool_calls", "prompt_tokens", "completion_tokens", "cost_usd", "workspace",
    "description"}.
    """
    from az_os import options
    from az_os.config import load_config
    from az_os.engine import ExecutionEngine
    from az_os.errors import ConfigError
    from az_os.types import Task

    if not description.strip():
        # checked before anything is loaded: no task is created for nothing
        raise ConfigError("the task description is empty: say what the agent should do")
    config = load_config()
    mode = options.approval(approve or config.agent.approve)
    prio = options.priority(priority)
    engine = ExecutionEngine(config)
    if model:
        model = engine.host.find_model(model).info.id
    task = Task(
        description=description,
        model=model,
        priority=prio,
        max_turns=max_turns or config.agent.max_turns,
        workspace=workspace,
        approval=mode,
        max_cost_usd=max_cost,
    )
    _install_prompter(mode)
    _run(lambda: engine.execute_stream(task, tools or None), as_json)
    _finish(task.id, as_json)


@task_app.command("resume")
def task_resume(
    task_id: str = typer.Argument(..., help="Id of an interrupted, cancelled or failed task."),
    max_turns: int = typer.Option(
        None, "--max-turns", min=1, max=100, help="New turn limit (counting turns already done)."
    ),
    approve: str = typer.Option(
        None, "--approve", help="Approval mode for the rest of the task (default: as before)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object at the end."),
) -> None:
    """Continue a task from its last complete turn.

    The task is claimed for this process while it runs (a claim its earlier
    run left, in a worker or 'az serve', is taken over), so workers sharing
    the database do not run it too and 'az task cancel' stops it. A task
    another live process is running is refused (exit 1).
    """
    import asyncio

    from az_os import options
    from az_os.claims import SINGLE_TASK_KIND, TaskClaims, owner_id
    from az_os.engine import ExecutionEngine

    mode = options.approval(approve) if approve else None
    engine = ExecutionEngine()
    task = asyncio.run(engine.prepare_resume(task_id, max_turns))
    if mode:
        task.approval = mode
    _install_prompter(task.approval)
    claims = TaskClaims(engine.storage, owner_id(SINGLE_TASK_KIND))

    def claim(stop: Callable[[], None]) -> Callable[[], None]:
        claims.take_over(task, stop)
        return claims.close

    _run(lambda: engine.execute_stream(task), as_json, claim)
    _finish(task.id, as_json)


@task_app.command("cancel")
def task_cancel(task_id: str = typer.Argument(..., help="Id of a running task.")) -> None:
    """Stop a running task (from another terminal). It can be resumed later.

    The task is marked cancelled in storage. A task run by 'az task run' or
    'az task resume' on this host is also sent SIGINT, so it stops at once.
    A task claimed by a process that runs many (az-celery's workers,
    'az serve', the dashboard) is not signalled: that process sees the
    stored status within about a second and stops that task only. The claim
    of a process on this host that is gone is dropped.
    """
    import os
    import signal
    import socket

    from az_os.claims import SINGLE_TASK_KIND, drop_dead_claim, parse_owner
    from az_os.drivers import get_storage
    from az_os.errors import AzError, NotFoundError
    from az_os.types import TaskStatus, utcnow

    storage = get_storage()
    task = storage.get_task(task_id)
    if task is None:
        raise NotFoundError(f"no task '{task_id}' (see 'az task list')")
    if task.status not in (TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.INITIALIZED):
        raise AzError(f"task {task.id} is {task.status.value}, not running")
    task.status = TaskStatus.CANCELLED
    task.error = "cancelled with 'az task cancel'"
    task.completed_at = utcnow()
    storage.update_task(task)
    signalled = False
    holder = storage.claim_holder(task.id)
    if holder and drop_dead_claim(storage, task.id):
        holder = None  # nobody runs it any more: the stored status is all there is
    owner = parse_owner(holder) if holder else None
    single = owner is not None and owner.kind == SINGLE_TASK_KIND and owner.pid == task.pid
    if holder and not (single and task.host in (None, socket.gethostname())):
        sys.stdout.write(f"cancelled task {task.id} (it runs in {holder}, which stops it)\n")
        return
    if task.pid and task.pid != os.getpid() and task.host in (None, socket.gethostname()):
        try:
            os.kill(task.pid, signal.SIGINT)
            signalled = True
        except (ProcessLookupError, PermissionError, OSError):
            pass
    how = f" (signalled pid {task.pid})" if signalled else ""
    sys.stdout.write(f"cancelled task {task.id}{how}\n")
