"""``az rag``: index the workspace's code and docs, and search them.

Commands::

    az rag index [PATH...] [--collection NAME] [--json]
    az rag search QUERY [-k N] [--mode hybrid|dense|bm25] [--collection NAME] [--json]
    az rag status [--collection NAME] [--json]
    az rag drop [--collection NAME]

The collection defaults to the current directory's (``ws-<name>-<hash>``),
the one a task in that directory as its workspace searches.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

rag_app = typer.Typer(
    help=(
        "Retrieval over your code and docs: index a directory (Python by definitions, Markdown "
        "by headings, text by paragraphs; .gitignore honoured, binaries and huge files "
        "skipped), then search it by meaning and keywords together (dense embeddings + BM25, "
        "fused by reciprocal rank). Tasks get the best snippets as context and the "
        "semantic.search tool; a workspace is indexed before its first task.\n\n"
        "Examples:\n\n"
        "  az rag index                      (the current directory, incremental)\n\n"
        '  az rag search "where is the retry schedule" -k 3\n\n'
        "  az rag status --json"
    ),
    no_args_is_help=True,
)


class Mode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    bm25 = "bm25"


COLLECTION = typer.Option(
    None,
    "--collection",
    "-c",
    help="Collection name (default: the current directory's, ws-<name>-<hash>).",
)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _index(collection: str | None) -> Any:
    from az_os.config import load_config

    from az_rag.index import RagIndex

    return RagIndex(load_config(), Path.cwd(), collection)


@rag_app.command("index")
def index_cmd(
    paths: list[Path] = typer.Argument(
        None, help="Files or directories to index (default: the current directory)."
    ),
    collection: str | None = COLLECTION,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Index (or bring up to date) PATHs: only new and changed files are embedded;
    deleted files leave the index. Paths are stored relative to the current directory."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    idx = _index(collection)
    err = Console(stderr=True)
    with Progress(
        TextColumn("indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}", style="dim"),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, path: str) -> None:
            bar.update(task, completed=done, total=total, description=path[-50:])

        report = idx.index(list(paths) if paths else None, progress=progress)
    if as_json:
        _print_json(report.to_dict())
        return
    out = Console()
    out.print(
        f"{report.collection}: {report.files_indexed} files indexed, "
        f"{report.files_unchanged} unchanged, {report.files_removed} removed, "
        f"{len(report.skipped)} skipped; {report.chunks_added} chunks embedded, "
        f"{report.chunks_total} in the index ({report.seconds:.1f} s)",
        highlight=False,
    )
    for path, why in report.skipped[:10]:
        out.print(f"  skipped {path}: {why}", style="dim", highlight=False)
    if len(report.skipped) > 10:
        out.print(f"  ... and {len(report.skipped) - 10} more (--json lists them)", style="dim")


@rag_app.command("search")
def search_cmd(
    query: str = typer.Argument(..., help="What to look for, in words or identifiers."),
    k: int = typer.Option(5, "-k", "--top", min=1, max=100, help="How many results."),
    mode: Mode = typer.Option(Mode.hybrid, "--mode", help="hybrid (default), dense or bm25."),
    collection: str | None = COLLECTION,
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> None:
    """Search the index: file, line range, score and snippet of the best chunks."""
    from az_os.errors import NotFoundError

    idx = _index(collection)
    if not idx.exists():
        raise NotFoundError(
            f"collection '{idx.name}' is not indexed yet: run az rag index"
            + (f" --collection {collection}" if collection else "")
        )
    results = idx.search(query, k=k, mode=mode.value)
    if as_json:
        _print_json([r.to_dict() for r in results])
        return
    from rich.console import Console

    out = Console()
    if not results:
        out.print("no results")
        return
    for r in results:
        sym = f"  {r.symbol}" if r.symbol else ""
        dense = f"  cosine {r.dense_score:.2f}" if r.dense_score is not None else ""
        out.print(f"[bold]{r.location}[/bold]{sym}  score {r.score:.4f}{dense}", highlight=False)
        lines = r.snippet.splitlines()
        for line in lines[:6]:
            out.print("    " + line[:120], style="dim", highlight=False, markup=False)
        if len(lines) > 6:
            out.print(f"    ... {len(lines) - 6} more lines", style="dim")


@rag_app.command("status")
def status_cmd(
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="One collection (default: every indexed one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """What is indexed: per collection its root, files, chunks, bytes and when."""
    from az_os.config import load_config

    from az_rag.index import RagIndex, list_collections

    config = load_config()
    names = [collection] if collection else list(list_collections(config))
    rows = []
    for name in names:
        idx = RagIndex(config, Path.cwd(), name)
        if not idx.exists():
            from az_os.errors import NotFoundError

            raise NotFoundError(f"collection '{name}' is not indexed")
        rows.append(idx.status())
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    if not rows:
        Console().print("nothing indexed yet: run az rag index")
        return
    table = Table("collection", "root", "files", "chunks", "MB", "indexed at")
    for r in rows:
        table.add_row(
            r["collection"],
            r["root"],
            str(r["files"]),
            str(r["chunks"]),
            f"{r['bytes'] / 1e6:.1f}",
            str(r["indexed_at"] or "-"),
        )
    Console().print(table)


@rag_app.command("drop")
def drop_cmd(collection: str | None = COLLECTION) -> None:
    """Delete a collection's index (vectors, BM25 and file list). Files are untouched."""
    from az_os.errors import NotFoundError

    idx = _index(collection)
    if not idx.drop():
        raise NotFoundError(f"collection '{idx.name}' is not indexed")
    typer.echo(f"dropped {idx.name}")


def main() -> None:  # pragma: no cover - `python -m az_rag.cli` (background indexing)
    from az_os.errors import AzError

    try:
        rag_app()
    except AzError as exc:
        sys.stderr.write(f"az rag: error: {exc}\n")
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
