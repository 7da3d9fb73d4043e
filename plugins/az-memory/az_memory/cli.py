"""``az memory``: the lessons az keeps across tasks.

Commands::

    az memory list [--limit N] [--json]
    az memory sync [--json]
    az memory show ID [--json]
    az memory add TEXT [--category C] [--score S] [--json]
    az memory forget ID
    az memory search QUERY [-k N] [--json]
    az memory consolidate [--threshold T] [--json]
    az memory cleanup [--max-age-days D] [--min-score S] [--dry-run] [--json]
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import typer

memory_app = typer.Typer(
    help=(
        "Lessons learned across tasks. When a task ends, az keeps what its transcript shows "
        "(a failing tool call and what worked instead, the outcome) and, with memory.model "
        "set, up to two lessons a model writes; relevant lessons go into new tasks' context "
        "with where they came from.\n\n"
        "Examples:\n\n"
        '  az memory add "Tests in this repo run with: make check" --category convention\n\n'
        '  az memory search "how to run the tests"\n\n'
        "  az memory consolidate; az memory cleanup --dry-run"
    ),
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Print as JSON.")


def _out(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _memory(flush: bool = True) -> Any:
    from az_os.config import load_config

    from az_memory.lessons import Memory

    return Memory(load_config(), flush=flush)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _table(lessons: list[Any], relevance: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    if not lessons:
        Console().print("no lessons")
        return
    cols = ["id", "category", "score", "used", "task", "when", "lesson"]
    queued = sum(x.pending for x in lessons)
    if relevance:
        cols.insert(1, "relevance")
    if queued:
        cols.insert(1, "state")
    table = Table(*cols)
    for x in lessons:
        row = [x.id, x.category, f"{x.score:.1f}", str(x.access_count),
               (x.task_id[:8] + f"#{x.turn}") if x.task_id else x.source, _when(x.timestamp),
               x.lesson[:100]]  # fmt: skip
        if relevance:
            row.insert(1, f"{x.relevance:.2f}")
        if queued:
            row.insert(1, "pending" if x.pending else "stored")
        table.add_row(*row)
    Console().print(table)
    if queued:
        Console().print(
            f"{queued} pending: queued when their task ended, stored (embedded) at the next "
            "recall, az memory command or az memory sync"
        )


@memory_app.command("list")
def list_cmd(
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many, newest first."),
    as_json: bool = JSON,
) -> None:
    """Every lesson, newest first; lessons not yet stored are marked pending."""
    lessons = _memory(flush=False).listing()[:limit]
    if as_json:
        _out([x.to_dict() for x in lessons])
    else:
        _table(lessons)


@memory_app.command("sync")
def sync_cmd(as_json: bool = JSON) -> None:
    """Store (embed) the lessons queued by finished tasks now, instead of at the next recall."""
    n = _memory(flush=False).sync()
    if as_json:
        _out({"stored": n})
    else:
        typer.echo(f"stored {n} pending lesson(s)")


@memory_app.command("show")
def show_cmd(lesson_id: str = typer.Argument(..., help="A lesson id (or a unique prefix)."),
             as_json: bool = JSON) -> None:  # fmt: skip
    """One lesson with every field."""
    x = _memory().get(lesson_id)
    if as_json:
        _out(x.to_dict())
        return
    for k, v in x.to_dict().items():
        if k != "relevance":
            typer.echo(f"{k:>13}: {_when(v) + ' UTC' if k == 'timestamp' else v}")


@memory_app.command("add")
def add_cmd(
    text: str = typer.Argument(..., help="The lesson, one or two sentences."),
    category: str = typer.Option("note", "--category", help="error_fix, outcome, convention, best_practice or note."),
    score: float = typer.Option(5.0, "--score", min=0.0, max=10.0, help="Usefulness 0-10."),
    as_json: bool = JSON,
) -> None:  # fmt: skip
    """Remember a lesson by hand."""
    from az_os.errors import ConfigError

    from az_memory.lessons import CATEGORIES, Lesson

    if category not in CATEGORIES:
        raise ConfigError(f"unknown category '{category}' (choose {', '.join(CATEGORIES)})")
    if not text.strip():
        raise ConfigError("the lesson is empty")
    x = _memory().add(Lesson(lesson=text, category=category, score=score, source="user"))
    if as_json:
        _out(x.to_dict())
    else:
        typer.echo(f"added {x.id}")


@memory_app.command("forget")
def forget_cmd(
    lesson_id: str = typer.Argument(..., help="A lesson id (or a unique prefix)."),
) -> None:
    """Delete one lesson."""
    x = _memory().forget(lesson_id)
    typer.echo(f"forgot {x.id}")


@memory_app.command("search")
def search_cmd(
    query: str = typer.Argument(..., help="What the lesson would be about."),
    k: int = typer.Option(5, "-k", min=1, max=100, help="How many."),
    as_json: bool = JSON,
) -> None:
    """Lessons by meaning and keywords (relevance = 0.7 x cosine + 0.3 x keyword overlap)."""
    found = _memory().search(query, k=k)
    if as_json:
        _out([x.to_dict() for x in found])
    else:
        _table(found, relevance=True)


@memory_app.command("consolidate")
def consolidate_cmd(
    threshold: float = typer.Option(None, "--threshold", min=0.5, max=1.0,
                                    help="Cosine similarity to merge at (default memory.merge_threshold, 0.9)."),
    as_json: bool = JSON,
) -> None:  # fmt: skip
    """Merge near-duplicate lessons of the same category into the best-scored one."""
    merges = _memory().consolidate(threshold)
    if as_json:
        _out(merges)
        return
    n = sum(len(m["merged"]) for m in merges)
    typer.echo(f"merged {n} lesson(s) into {len(merges)}")


@memory_app.command("cleanup")
def cleanup_cmd(
    max_age_days: float = typer.Option(None, "--max-age-days", min=0.0,
                                       help="Remove never-used lessons older than this (default 90)."),
    min_score: float = typer.Option(None, "--min-score", min=0.0, max=10.0,
                                    help="Remove lessons scored below this (default 2)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would go."),
    as_json: bool = JSON,
) -> None:  # fmt: skip
    """Remove old unused and low-score lessons."""
    gone = _memory().cleanup(max_age_days, min_score, dry_run=dry_run)
    if as_json:
        _out([x.to_dict() for x in gone])
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {len(gone)} lesson(s)")
    for x in gone:
        typer.echo(f"  {x.id}  {x.lesson[:80]}")
