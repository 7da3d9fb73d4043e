"""Indexing a task's workspace before its first task, and the context snippets.

Only directories that look like a project are indexed on their own (a
``.git`` directory, or a README, ``pyproject.toml``, ``package.json``,
``setup.py``, ``Cargo.toml``, ``go.mod`` or ``docs/`` at the top), never the
home directory or ``/``. Indexing runs for at most ``rag.auto_index_seconds``
in the task's process; what is left is finished by a background
``python -m az_rag.cli index`` whose output goes to
``<az home>/rag/<collection>/background.log``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from az_os.errors import AzError

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

    from az_rag.index import RagIndex, Result

log = logging.getLogger("az.rag")

PROJECT_MARKERS = (
    ".git",
    "pyproject.toml",
    "package.json",
    "setup.py",
    "Cargo.toml",
    "go.mod",
    "docs",
    "README.md",
    "README.rst",
    "README",
    "README.txt",
)


def looks_like_project(root: Path) -> bool:
    """Whether ``root`` is worth indexing without being asked."""
    root = root.resolve()
    if root == Path(root.anchor) or root == Path.home().resolve():
        return False
    return any((root / m).exists() for m in PROJECT_MARKERS)


def _background(config: AzConfig, idx: RagIndex) -> None:
    idx.dir.mkdir(parents=True, exist_ok=True)
    with (idx.dir / "background.log").open("ab") as logf:
        subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "az_rag.cli", "index", "--collection", idx.name],
            cwd=idx.root,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
            env={**os.environ, "AZ_HOME": str(config.home)},
        )


def ensure_indexed(config: AzConfig, workspace: Path) -> RagIndex | None:
    """The workspace's index, brought up to date within the time bound
    (None when the workspace is not indexed and should not be)."""
    from az_rag.index import RagError, RagIndex, settings

    s = settings(config)
    idx = RagIndex(config, workspace)
    if not s.auto_index or not looks_like_project(workspace):
        return idx if idx.exists() else None
    try:
        report = idx.index(deadline=time.monotonic() + s.auto_index_seconds)
    except RagError as exc:  # another process is indexing it right now
        log.info("az-rag: %s", exc)
        return idx if idx.exists() else None
    if report.timed_out:
        log.info("az-rag: %s: indexing goes on in the background", idx.name)
        _background(config, idx)
    return idx


def format_snippet(r: Result, max_chars: int) -> str:
    head = f"{r.path}:{r.start}-{r.end}" + (f" ({r.symbol})" if r.symbol else "")
    body = r.snippet
    if len(body) > max_chars:
        body = body[:max_chars].rsplit("\n", 1)[0] + "\n..."
    return f"{head}\n{body}"


def context_snippets(workspace: str, query: str) -> list[str]:
    """Snippets for a task's first prompt (never raises: a failure is logged)."""
    from az_os.config import current_config

    from az_rag.index import settings

    try:
        config = current_config()
        s = settings(config)
        idx = ensure_indexed(config, Path(workspace))
        if idx is None:
            return []
        budget = min(s.context_tokens, config.agent.context_tokens) * 4  # ≈ 4 chars per token
        if budget <= 0:
            return []
        results = idx.search(query, k=6)
    except AzError as exc:
        log.warning("az-rag: no workspace context: %s", exc)
        return []
    keep = [
        r
        for r in results
        if (r.dense_score or 0.0) >= s.min_score
        or (
            r.bm25_rank is not None
            and r.bm25_rank <= 2
            and (r.dense_score or 0.0) >= s.min_score / 2
        )
    ]
    out: list[str] = []
    used = len("Workspace snippets (az-rag, path:lines):")
    for r in keep:
        room = budget - used - 80
        if room < 200:
            break
        text = format_snippet(r, min(room, 1200))
        out.append(text)
        used += len(text) + 2
    if out:
        out.insert(0, "Workspace snippets (az-rag, path:lines):")
    return out
