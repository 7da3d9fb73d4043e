"""``az state`` and ``az undo``: checkpoints of a workspace, and taking changes back.

Commands::

    az state save [--name N] [--workspace DIR] [--json]
    az state list [--task ID] [--workspace DIR | --all] [--limit N] [--json]
    az state diff NAME_OR_ID [--stat] [--workspace DIR]
    az state restore NAME_OR_ID [--yes] [--force] [--workspace DIR] [--json]
    az state delete NAME_OR_ID [--workspace DIR]
    az undo [TASK_ID] [--steps N] [--yes] [--force] [--workspace DIR] [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import Checkpoint

    from az_git.manager import Checkpoints, RestoreResult

state_app = typer.Typer(
    help=(
        "Checkpoints of a workspace: az takes one before the first file change of every "
        "task turn and when a task ends; save your own, compare, restore. Snapshots live in "
        "a separate git object store under the az home: your repository's HEAD, branches, "
        "index and stash are never touched.\n\n"
        "Examples:\n\n"
        "  az state save --name before-refactor\n\n"
        "  az state list\n\n"
        "  az state diff before-refactor --stat\n\n"
        "  az state restore before-refactor\n\n"
        "Take back what the last task did: az undo"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

WORKSPACE_HELP = "The workspace directory (default: the current directory)."


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _out(text: str) -> None:
    sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


def _err(text: str) -> None:
    sys.stderr.write(text + ("" if text.endswith("\n") else "\n"))


def _manager() -> Checkpoints:
    from az_git.manager import Checkpoints

    return Checkpoints()


def _workspace(value: Path | None) -> Path:
    from az_git.store import StoreError

    ws = (value or Path.cwd()).expanduser()
    if not ws.is_dir():
        raise StoreError(f"workspace {ws} does not exist or is not a directory")
    return ws.resolve()


def _when(cp: Checkpoint) -> str:
    return cp.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


_STATUS_WORDS = {
    "A": "created since",
    "M": "changed since",
    "D": "deleted since",
    "T": "type changed",
}
_RESTORE_WORDS = {"A": "recreated", "M": "restored", "D": "removed", "T": "restored"}


def _confirm(question: str, yes: bool) -> None:
    from az_os.errors import AzError

    if yes:
        return
    if not sys.stdin.isatty():
        raise AzError(f"{question} needs confirmation: add --yes (stdin is not a terminal)")
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


def _preview(mgr: Checkpoints, cp: Checkpoint) -> list[tuple[str, str]]:
    changes = mgr.changes(cp)
    if not changes:
        _out(f"{cp.workspace} already matches checkpoint {cp.id} ({cp.name}).")
        return changes
    _out(f"Going back to checkpoint {cp.id} ({cp.name}, {_when(cp)}) in {cp.workspace}:")
    undo_words = {"A": "remove", "M": "restore", "D": "recreate", "T": "restore"}
    for status, path in changes[:50]:
        _out(f"  {undo_words.get(status[0], status)} {path}")
    if len(changes) > 50:
        _out(f"  ... and {len(changes) - 50} more")
    return changes


def _run_restore(fn: Any) -> RestoreResult:
    """Run a restore, printing the outside changes that stop it."""
    from az_git.store import ExternalChangesError

    try:
        result: RestoreResult = fn()
    except ExternalChangesError as exc:
        _err("Changed outside az since its last checkpoint:")
        for status, path in exc.files:
            _err(f"  {_STATUS_WORDS.get(status[0], status)}: {path}")
        if exc.diff.strip():
            _err(exc.diff)
        raise
    return result


def _report(result: RestoreResult, as_json: bool) -> None:
    if as_json:
        _print_json(result.to_dict())
        return
    cp = result.target
    _out(
        f"Restored {cp.workspace} to checkpoint {cp.id} ({cp.name}, {_when(cp)}): "
        f"{len(result.changes)} file(s) changed."
    )
    for status, path in result.changes[:50]:
        _out(f"  {_RESTORE_WORDS.get(status[0], status)} {path}")
    if result.left_out:
        _out(f"Left alone (over the size cap): {', '.join(p for p, _ in result.left_out)}")
    _out(
        f"The state before is checkpoint {result.pre.id}: 'az state restore {result.pre.id}' goes back."
    )


@state_app.command("save")
def state_save(
    name: str = typer.Option(
        None, "--name", "-n", help="A name to find it by (default: 'manual')."
    ),
    workspace: Path = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the checkpoint as JSON."),
) -> None:
    """Save the workspace as a checkpoint now.

    Every file git would add is kept (.gitignore and .git/info/exclude respected); files
    over git.max_file_bytes (default 10 MB) are left out and listed.
    JSON shape: {"id", "task_id", "turn", "name", "commit", "workspace", "created_at",
    "left_out": [{"path", "bytes"}], "duration_ms"}.
    """
    from az_os.errors import AzError

    from az_git.manager import RESERVED

    label = (name or "manual").strip()
    if not label or label in RESERVED:
        raise AzError(
            f"--name '{name}' is empty or reserved (reserved: {', '.join(sorted(RESERVED))})"
        )
    mgr = _manager()
    cp, snap = mgr.save(_workspace(workspace), name=label)
    if as_json:
        _print_json(
            {
                **cp.to_dict(),
                "left_out": [{"path": p, "bytes": s} for p, s in snap.left_out],
                "duration_ms": round(snap.duration_ms, 1),
            }
        )
        return
    _out(f"Saved checkpoint {cp.id} ({cp.name}) of {cp.workspace} in {snap.duration_ms:.0f} ms.")
    for path, size in snap.left_out:
        _out(f"  left out (over {mgr.settings.max_file_bytes:,} bytes): {path} ({size:,} bytes)")


@state_app.command("list")
def state_list(
    task: str = typer.Option(None, "--task", "-t", help="Only this task's checkpoints."),
    workspace: Path = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    all_: bool = typer.Option(False, "--all", help="Checkpoints of every workspace."),
    limit: int = typer.Option(50, "--limit", help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List checkpoints of this workspace (or of a task, or --all), newest first.

    JSON shape: [{"id", "task_id", "turn", "name", "commit", "workspace", "created_at"}].
    """
    mgr = _manager()
    if task:
        from az_os.errors import NotFoundError

        found = mgr.storage.get_task(task.strip())
        if found is None:
            raise NotFoundError(f"no task '{task}' (see 'az task list')")
        cps = mgr.list(task_id=found.id, limit=limit)
    elif all_:
        cps = mgr.list(limit=limit)
    else:
        cps = mgr.list(workspace=_workspace(workspace), limit=limit)
    if as_json:
        _print_json([c.to_dict() for c in cps])
        return
    if not cps:
        _out(
            "No checkpoints yet: az takes them when a task changes files ('az state save' takes one now)."
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("id", "name", "task", "turn", "created", "commit") + (
        ("workspace",) if all_ else ()
    ):
        table.add_column(col)
    for c in cps:
        row = [c.id, c.name, c.task_id or "", str(c.turn or ""), _when(c), c.commit[:10]]
        table.add_row(*row, *([c.workspace] if all_ else []))
    Console().print(table)


@state_app.command("diff")
def state_diff(
    name_or_id: str = typer.Argument(..., help="Checkpoint name or id (see 'az state list')."),
    stat: bool = typer.Option(False, "--stat", help="Only a summary per file."),
    workspace: Path = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Show what changed in the workspace since a checkpoint (a unified diff)."""
    mgr = _manager()
    cp = mgr.resolve(name_or_id, _workspace(workspace))
    text = mgr.diff(cp, stat=stat)
    _out(text if text.strip() else f"No changes since checkpoint {cp.id} ({cp.name}).")


@state_app.command("restore")
def state_restore(
    name_or_id: str = typer.Argument(..., help="Checkpoint name or id (see 'az state list')."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(
        False, "--force", help="Restore even if files changed outside az since its last checkpoint."
    ),
    workspace: Path = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print what was done as JSON."),
) -> None:
    """Put the workspace back to a checkpoint.

    Files created after it are removed, changed ones restored, deleted ones recreated;
    ignored files and files over the size cap are left alone. The state before is saved
    as a checkpoint first, so a restore can be undone. If files changed outside az since
    its last checkpoint, nothing is done: the files and their diff are shown; --force
    goes ahead. JSON shape: {"restored", "pre_checkpoint", "changes": [{"status", "path"}]}.
    """
    mgr = _manager()
    cp = mgr.resolve(name_or_id, _workspace(workspace))
    if not yes:
        if not _preview(mgr, cp):
            return
    _confirm(f"restore {cp.workspace} to checkpoint {cp.id}", yes)
    result = _run_restore(lambda: mgr.restore(cp, force=force))
    _report(result, as_json)


@state_app.command("delete")
def state_delete(
    name_or_id: str = typer.Argument(..., help="Checkpoint name or id (see 'az state list')."),
    workspace: Path = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
) -> None:
    """Delete a checkpoint (its record and its reference in the store)."""
    mgr = _manager()
    cp = mgr.resolve(name_or_id, _workspace(workspace))
    mgr.delete(cp)
    _out(f"Deleted checkpoint {cp.id} ({cp.name}).")


def undo(
    task_id: str = typer.Argument(
        None, help="The task (default: the newest task that changed files in this workspace)."
    ),
    steps: int = typer.Option(1, "--steps", "-n", help="How many changing turns to take back."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Go ahead even if files changed outside az since its last checkpoint.",
    ),
    workspace: Path = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print what was done as JSON."),
) -> None:
    """Take back a task's last changing turns: files and conversation together.

    The workspace goes back to how it was before the task's last N turns that changed
    files, and the task's conversation is rewound to the turn before, so
    'az task resume ID' continues from there. The state before is saved as a checkpoint
    ('az state restore ID' puts it back). Stops with a diff if files changed outside az
    since its last checkpoint, unless --force.

    Example: az undo --steps 2    (the newest task in this directory, last two turns)
    """
    mgr = _manager()
    ws = _workspace(workspace)
    tid = task_id.strip() if task_id else mgr.latest_task(ws)
    task = mgr.storage.get_task(tid)
    if task is None:
        from az_os.errors import NotFoundError

        raise NotFoundError(f"no task '{tid}' (see 'az task list')")
    if not yes:
        from az_git.manager import AUTO

        autos = sorted(
            (c for c in mgr.storage.list_checkpoints(task_id=task.id) if c.name == AUTO),
            key=lambda c: c.turn,
        )
        if 0 < steps <= len(autos):
            target = autos[-steps]
            _out(
                f"Task {task.id}: back to before turn {target.turn} (after turn {target.turn - 1})."
            )
            _preview(mgr, target)
    _confirm(f"undo {steps} changing turn(s) of task {task.id}", yes)
    result = _run_restore(lambda: mgr.undo(task.id, steps=steps, workspace=ws, force=force))
    if as_json:
        _print_json(result.to_dict())
        return
    _report(result, False)
    _out(
        f"Task {task.id}: {result.turns_dropped} turn(s) dropped from its conversation; "
        f"'az task resume {task.id}' continues from turn {result.target.turn}."
    )


def register(app: typer.Typer) -> None:
    """Add ``az state`` and ``az undo`` to ``app``."""
    app.add_typer(state_app, name="state")
    app.command("undo")(undo)
