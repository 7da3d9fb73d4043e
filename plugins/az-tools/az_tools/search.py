"""``filesystem.search``: find the lines of workspace files that contain a
text or match a regular expression (what ``grep -rn`` does), without a shell.

The walk is the one ``filesystem.list`` makes: confined to the workspace,
sorted, symlinks not followed, hidden entries (names starting with ``.``:
``.git``, ``.venv``) left out unless asked for, at most
:data:`~az_tools.filesystem.MAX_WALK_ENTRIES` entries. Files larger than
:data:`MAX_FILE_BYTES` and binary files (a NUL byte in their first 8 KiB)
are skipped and counted. Text is read as UTF-8, undecodable bytes replaced.

Patterns come from a model, so a regular expression runs under a time
limit (the ``regex`` library's ``timeout``): the whole search stops after
:data:`SEARCH_SECONDS` seconds and says so instead of hanging on a
catastrophically backtracking pattern.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path, PurePosixPath
from typing import Any

from az_os.tools import ToolContext
from az_os.types import ToolSpec

from az_tools.base import BuiltinTool, ToolFailure, fit_items, output_limit
from az_tools.filesystem import missing, walk
from az_tools.workspace import WorkspacePath, confirm_opened, resolve

#: Files larger than this are skipped (bytes).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: A matching line longer than this is cut in the result (characters).
MAX_LINE_CHARS = 200
#: The longest pattern accepted (characters).
MAX_PATTERN_CHARS = 500
#: Wall-time bound of one search (seconds); a regex slower than this stops it.
SEARCH_SECONDS = 10.0
#: Most paths listed under ``named`` (files whose name matches).
MAX_NAMED = 20
#: Bytes read to tell a binary file (one containing NUL) from text.
BINARY_PROBE_BYTES = 8192


class SearchTool(BuiltinTool):
    """``filesystem.search``: matching lines across the workspace's files."""

    spec = ToolSpec(
        name="filesystem.search",
        description=(
            "Search the text of the files in the workspace for a word, phrase or regular "
            "expression, like grep -rn: use it to find which file mentions, defines or uses "
            'something. Returns {"matches": [{"path", "line", "text"}], "files": [paths with a '
            'match], "count", "named": [paths whose file name matches], "truncated"}; line '
            "numbers start at 1. Hidden, binary and very large files are skipped."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "pattern": {
                    "type": "string",
                    "description": "The text to look for (exact, case-sensitive unless "
                    "ignore_case), or a regular expression when regex is true.",
                    "minLength": 1,
                    "maxLength": MAX_PATTERN_CHARS,
                },
                "path": {
                    "type": "string",
                    "description": "Directory (searched with its subdirectories) or file to "
                    "search, relative to the workspace; '.' is the whole workspace.",
                    "default": ".",
                },
                "glob": {
                    "type": "string",
                    "description": "Only files whose path matches this pattern, e.g. '*.py' or "
                    "'docs/*.md'.",
                },
                "regex": {
                    "type": "boolean",
                    "description": "Treat pattern as a regular expression.",
                    "default": False,
                },
                "ignore_case": {
                    "type": "boolean",
                    "description": "Match upper and lower case alike.",
                    "default": False,
                },
                "include_hidden": {
                    "type": "boolean",
                    "description": "Also search files and directories whose name starts with '.'.",
                    "default": False,
                },
                "max_results": {
                    "type": "integer",
                    "description": "Stop after this many matching lines.",
                    "minimum": 1,
                    "maximum": 1000,
                    "default": 100,
                },
            },
            "required": ["pattern"],
            "additionalProperties": False,
        },
        category="filesystem",
        read_only=True,
    )

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        import regex

        pattern = args["pattern"]
        flags = regex.MULTILINE | (regex.IGNORECASE if args.get("ignore_case") else 0)
        try:
            rx = regex.compile(pattern if args.get("regex") else regex.escape(pattern), flags)
        except regex.error as exc:
            raise ToolFailure(
                f"invalid regular expression {pattern!r}: {exc}; "
                "set regex to false to search for the text as written"
            ) from None
        where = resolve(ctx, args.get("path"))
        try:
            st = os.stat(where.path)
        except FileNotFoundError:
            raise missing("file or directory", where) from None
        glob = args.get("glob") or None
        hidden = bool(args.get("include_hidden"))
        if stat.S_ISDIR(st.st_mode):
            files, walk_cut = _files(where, hidden, glob)
        else:
            files, walk_cut = [(where.path, where.shown)], False
        deadline = time.monotonic() + SEARCH_SECONDS
        max_results = int(args.get("max_results") or 100)
        matches: list[dict[str, Any]] = []
        skipped = 0
        timed_out = False
        for path, shown in files:
            if len(matches) >= max_results:
                break
            text = _read_text(path, WorkspacePath(path=path, shown=shown, root=where.root))
            if text is None:
                skipped += 1
                continue
            try:
                _scan(rx, text, shown, matches, max_results, deadline)
            except TimeoutError:
                timed_out = True
                break
        named = [] if timed_out else _named(rx, files, deadline)
        # the names go out whole (at most MAX_NAMED paths): the matches get the rest
        shown_matches, cut = fit_items(matches, output_limit(ctx), 256 + len(json.dumps(named)))
        result: dict[str, Any] = {
            "pattern": pattern,
            "path": where.shown,
            "matches": shown_matches,
            "files": list(dict.fromkeys(m["path"] for m in matches)),
            "count": len(matches),
            "named": named,
            "truncated": cut or walk_cut or timed_out or len(matches) >= max_results,
            "skipped_files": skipped,
        }
        if not matches and named:
            result["note"] = (
                f"no line contains {pattern!r}, but {len(named)} file name(s) do (see named); "
                "filesystem.read shows a file's content"
            )
        if timed_out:
            result["note"] = (
                f"stopped after {SEARCH_SECONDS:g} s: the regular expression is too slow; "
                "simplify it or search for plain text"
            )
        return result


def _named(rx: Any, files: list[tuple[Path, str]], deadline: float) -> list[str]:
    """Up to :data:`MAX_NAMED` of ``files`` whose file name ``rx`` matches,
    as shown paths; stops quietly at ``deadline`` (a monotonic time)."""
    out: list[str] = []
    for _, shown in files:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            if rx.search(PurePosixPath(shown).name, timeout=remaining):
                out.append(shown)
        except TimeoutError:
            break
        if len(out) >= MAX_NAMED:
            break
    return out


def _files(
    top: WorkspacePath, hidden: bool, glob: str | None
) -> tuple[list[tuple[Path, str]], bool]:
    """The regular files of :func:`~az_tools.filesystem.walk` below ``top``
    (symlinks not followed) as ``(path, shown)``, those matching ``glob``
    only; True when the walk hit MAX_WALK_ENTRIES."""
    prefix = "" if top.shown == "." else f"{top.shown}/"
    found, cut = walk(top.path, hidden)
    out: list[tuple[Path, str]] = []
    for name, e in found:
        try:
            if not e.is_file(follow_symlinks=False):  # a directory, a symlink, a FIFO...
                continue
        except OSError:
            continue
        shown = prefix + name
        if glob is None or PurePosixPath(shown).match(glob):
            out.append((top.path / name, shown))
    return out, cut


def _read_text(path: Path, where: WorkspacePath) -> str | None:
    """The file's text, or None when it is too large, binary or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            confirm_opened(f.fileno(), where)
        except ToolFailure:
            return None
        if os.fstat(f.fileno()).st_size > MAX_FILE_BYTES:
            return None
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES or b"\x00" in data[:BINARY_PROBE_BYTES]:
        return None
    return data.decode("utf-8", errors="replace")


def _scan(
    rx: Any,
    text: str,
    shown: str,
    matches: list[dict[str, Any]],
    max_results: int,
    deadline: float,
) -> None:
    """Append ``{"path", "line", "text"}`` for each line of ``text`` that
    ``rx`` matches, up to ``max_results`` in all. Raises TimeoutError past
    ``deadline`` (a monotonic time)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    # one pass over the whole text; line numbers are counted between matches
    line_no = 0  # 0-based number of the line that starts at ``offset``
    offset = 0
    for m in rx.finditer(text, timeout=remaining):
        if m.start() < offset:
            continue  # a second match on a line already reported
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.start())
        end = len(text) if end < 0 else end
        line_no += text.count("\n", offset, start)
        line = text[start:end].rstrip("\r")
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + "…"
        matches.append({"path": shown, "line": line_no + 1, "text": line})
        if len(matches) >= max_results or end >= len(text):
            return
        offset, line_no = end + 1, line_no + 1
