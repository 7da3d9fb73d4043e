"""az-celery's commands: ``az task submit`` and ``az worker start``.

This module imports nothing heavy: celery and redis are imported when a
command runs (``az --help`` and ``az task list`` never load them).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer

worker_app = typer.Typer(
    help=(
        "Run az tasks from the queue: 'az worker start' on any host that shares the "
        "storage backend (storage.dsn) and the broker (celery.broker_url)."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


def task_submit(
    description: str = typer.Argument(..., help="What the agent should do, in plain words."),
    model: str = typer.Option(
        None, "--model", "-m", help="Model id or alias (default: routed on the worker)."
    ),
    priority: str = typer.Option(
        "medium",
        "--priority",
        "-p",
        help="low, medium, high or urgent; each is its own queue and workers take urgent first.",
    ),
    max_turns: int = typer.Option(
        None, "--max-turns", min=1, max=100, help="ReAct turns (default: agent.max_turns)."
    ),
    workspace: str = typer.Option(
        None,
        "--workspace",
        "-w",
        help="Directory the tools are confined to, as the workers see it (default: the "
        "current directory).",
    ),
    approve: str = typer.Option(
        "read-only",
        "--approve",
        help="auto or read-only (default): a worker has nobody to ask, so 'ask' is refused.",
    ),
    max_cost: float = typer.Option(
        None, "--max-cost", min=0.0, help="Refuse model calls that could take this task past USD."
    ),
    tools: list[str] = typer.Option(
        None, "--tools", help="Offer only tools matching this pattern (repeatable)."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Follow the task until it ends, like 'az task run'."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Queue a task for the workers ('az worker start') and print its id.

    The task is stored at once (status pending, so 'az task list/show/cancel'
    see it) and its message goes to the queue of its priority on the broker
    (celery.broker_url, default redis://127.0.0.1:6379/0). With --wait, exit
    codes are those of 'az task run': 0 completed, 1 failed or interrupted,
    130 cancelled. JSON shape without --wait: {"id", "queue", "status"};
    with --wait: the task's summary as 'az task run --json' prints it.
    """
    import os

    from az_os import options
    from az_os.config import load_config
    from az_os.drivers import get_storage
    from az_os.errors import ConfigError
    from az_os.types import Task, TaskStatus

    from az_celery.worker import make_app, queue_for

    config = load_config()
    mode = options.approval(approve, ("auto", "read-only"), where=" on a worker")
    prio = options.priority(priority)
    if model:
        from az_os.plugins import get_host

        model = get_host().find_model(model).info.id
    ws = os.path.abspath(workspace or os.getcwd())
    if not os.path.isdir(ws):
        raise ConfigError(f"--workspace {ws} is not a directory")
    storage = get_storage(config)
    task = Task(
        description=description,
        model=model,
        priority=prio,
        status=TaskStatus.PENDING,
        max_turns=max_turns or config.agent.max_turns,
        workspace=ws,
        approval=mode,
        max_cost_usd=max_cost,
    )
    storage.create_task(task)
    storage.save_state(task.id, {"model_fixed": model is not None, "tools": tools or None})
    queue = queue_for(prio.value)
    try:
        make_app(config).send_task("az.run_task", args=[task.id], queue=queue)
    except Exception as exc:  # noqa: BLE001 - the broker is down: say so, keep nothing queued
        storage.delete_task(task.id)
        from az_os.errors import AzError

        raise AzError(f"cannot queue the task (broker {_broker(config)}): {exc}") from None
    if not wait:
        if as_json:
            sys.stdout.write(
                json.dumps({"id": task.id, "queue": queue, "status": "pending"}) + "\n"
            )
        else:
            sys.stdout.write(f"{task.id}\n")
        return
    if not as_json:
        sys.stderr.write(f"task {task.id} queued on {queue}; waiting for a worker\n")
    _follow(storage, task.id, as_json)


def _broker(config: Any) -> str:
    from az_celery.worker import settings

    url = settings(config)["broker_url"]
    return url.split("@")[-1] if "@" in url else url


def _follow(storage: Any, task_id: str, as_json: bool, poll_s: float = 0.3) -> None:
    """Print the task's turns as they are stored, then its summary; exit like
    ``az task run``."""
    seen = 0
    status = None
    while True:
        task = storage.get_task(task_id)
        if task is None:
            raise typer.Exit(1)
        turns = storage.list_turns(task_id)
        if not as_json:
            if task.status.value != status:
                status = task.status.value
                sys.stderr.write(f"task {task_id}: {status}\n")
            for turn in turns[seen:]:
                calls = ", ".join(c.name for c in turn.tool_calls) or "answer"
                sys.stderr.write(f"turn {turn.index + 1} · {turn.model} · {calls}\n")
        seen = len(turns)
        if task.status.value in ("completed", "failed", "cancelled"):
            break
        time.sleep(poll_s)
    summary = {
        "id": task.id,
        "status": task.status.value,
        "result": task.result,
        "error": task.error,
        "model": task.model,
        "turns": len(turns),
        "tool_calls": sum(len(t.tool_calls) for t in turns),
        "prompt_tokens": task.prompt_tokens,
        "completion_tokens": task.completion_tokens,
        "cost_usd": task.cost_usd,
        "workspace": task.workspace,
        "description": task.description,
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(f"{task.status.value}: {task.result or task.error or ''}\n")
    code = {"completed": 0, "cancelled": 130}.get(task.status.value, 1)
    if code:
        raise typer.Exit(code)


@worker_app.command("start")
def worker_start(
    concurrency: int = typer.Option(
        8, "--concurrency", "-c", min=1, help="Tasks run at once in this worker (threads)."
    ),
    queues: str = typer.Option(
        "az.urgent,az.high,az.medium,az.low",
        "--queues",
        "-Q",
        help="Comma-separated queues to take tasks from, in priority order.",
    ),
    loglevel: str = typer.Option("WARNING", "--loglevel", "-l", help="Celery's log level."),
) -> None:
    """Start a worker: take queued tasks, claim each in the database, run it
    with the normal engine and record it in the shared storage.

    Needs the same storage backend as the submitters (PostgreSQL for several
    hosts: storage.backend = "postgres", storage.dsn) and the broker
    (celery.broker_url). A task whose worker dies is put back on its queue by
    the other workers after celery.stale_after_s (30 s) and resumed from its
    last complete turn. Stops on Ctrl-C/SIGTERM after the running tasks.
    """
    import os
    import socket

    from az_os.drivers import get_storage

    from az_celery.worker import Sweeper, make_app, settings

    storage = get_storage()
    storage.heartbeat_claim("", "")  # refuses at once a backend without claims
    s = settings()
    app = make_app()
    sweeper = Sweeper(app, every_s=s["heartbeat_s"], stale_after_s=s["stale_after_s"])
    sweeper.start()
    sys.stderr.write(
        f"az worker: {concurrency} threads on {queues}; broker {_broker(None)}; "
        f"storage {storage.location}\n"
    )
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            "--pool=threads",
            f"--queues={queues}",
            f"--loglevel={loglevel}",
            f"--hostname=az-{os.getpid()}@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    sweeper.stop.set()
