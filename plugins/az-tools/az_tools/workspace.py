"""Workspace confinement: every path a tool touches stays inside ``ctx.workspace``.

A path argument is taken relative to the workspace (``"."`` is the
workspace itself); an absolute path is accepted only if it lies inside.
The path is then resolved, following every symlink that exists, and the
result must still be inside the resolved workspace. So ``../x``,
``/etc/passwd`` and a symlink (or a symlinked parent directory) leading
outside are refused with a one-line :class:`~az_tools.base.ToolFailure`
the model can read.

Races: a process that swaps a directory for a symlink between the check and
the open is caught after the open: :func:`confirm_opened` reads where the
open file descriptor really points (``/proc/self/fd`` on Linux) and refuses
it when that is outside the workspace, before a byte is read or written.
Elsewhere that second check is skipped. Hard links are the file itself: a
hard link inside the workspace to a file outside cannot be told apart (the
sandbox keeps commands from making one). Tools run with the user's own
permissions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from az_os.tools import ToolContext

from az_tools.base import ToolFailure


@dataclass(frozen=True)
class WorkspacePath:
    """A path checked to be inside the workspace.

    ``path`` is absolute and resolved (symlinks followed); ``shown`` is the
    workspace-relative form with forward slashes (``"."`` for the
    workspace), used in results and messages; ``root`` is the resolved
    workspace.
    """

    path: Path
    shown: str
    root: Path


def workspace_root(ctx: ToolContext) -> Path:
    """The resolved workspace directory; ToolFailure if it is missing."""
    ws = Path(ctx.workspace).expanduser()
    try:
        root = ws.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ToolFailure(f"the workspace {ws} does not exist") from None
    if not root.is_dir():
        raise ToolFailure(f"the workspace {ws} is not a directory")
    return root


def _shown(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel if rel else "."


def resolve(ctx: ToolContext, raw: str | None) -> WorkspacePath:
    """Resolve a path argument inside the workspace.

    Raises ToolFailure when it lies outside (``..``, an absolute path
    elsewhere, a symlink leading out) or cannot be resolved (symlink loop,
    NUL byte).
    """
    root = workspace_root(ctx)
    text = "." if raw is None or raw == "" else raw
    if "\x00" in text:
        raise ToolFailure("the path contains a NUL byte")
    given = Path(text)
    candidate = given if given.is_absolute() else root / given
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # symlink loop (RuntimeError before 3.13)
        raise ToolFailure(f"cannot resolve '{text}': {exc}") from None
    if resolved != root and not resolved.is_relative_to(root):
        lexical = Path(os.path.normpath(candidate))
        unresolved_ws = Path(os.path.normpath(Path(ctx.workspace).expanduser().absolute()))
        if lexical.is_relative_to(root) or lexical.is_relative_to(unresolved_ws):
            raise ToolFailure(
                f"'{text}' goes through a symlink that leads outside the workspace "
                f"(to {resolved}); refused"
            )
        raise ToolFailure(
            f"'{text}' is outside the workspace {root}; use a path inside it "
            "(relative paths start at the workspace)"
        )
    # Show the path as the model named it (a link inside the workspace keeps its name).
    lexical = Path(os.path.normpath(candidate))
    if lexical.is_relative_to(root):
        shown = _shown(lexical, root)
    else:
        shown = _shown(resolved, root)
    return WorkspacePath(path=resolved, shown=shown, root=root)


def confirm_opened(fd: int, where: WorkspacePath) -> None:
    """Refuse (ToolFailure) a file descriptor that points outside the
    workspace: a directory swapped for a symlink after :func:`resolve`
    checked the path. Linux only (``/proc/self/fd``); a no-op elsewhere."""
    link = f"/proc/self/fd/{fd}"
    try:
        real = Path(os.readlink(link))
    except OSError:
        return
    if real != where.root and not real.is_relative_to(where.root):
        raise ToolFailure(
            f"'{where.shown}' changed while it was opened and now leads outside the "
            f"workspace (to {real}); refused"
        )
