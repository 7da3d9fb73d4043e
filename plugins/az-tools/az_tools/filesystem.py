"""``filesystem.list``, ``filesystem.read``, ``filesystem.write`` and ``filesystem.copy``.

All paths are relative to the task's workspace and confined to it (see
:mod:`az_tools.workspace`). Results are JSON objects; sizes are bytes,
line numbers count from 1. Output larger than ``tools.output_limit_bytes``
(config, default 16384 bytes) is cut, and the result says so.
"""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from az_os.tools import ToolContext
from az_os.types import ToolSpec

from az_tools.base import (
    BuiltinTool,
    ToolFailure,
    check_encoding,
    clip_text,
    fit_items,
    is_hidden,
    os_error_line,
    output_limit,
)
from az_tools.workspace import WorkspacePath, confirm_opened, resolve

#: ``filesystem.read`` counts the lines after the part it returns (for
#: ``total_lines``) through at most this many more characters (lines longer
#: than the output limit count as that limit); past it, ``total_lines`` is null.
COUNT_LINES_MAX_CHARS = 64 * 1024 * 1024

#: A recursive listing stops after this many entries (the result says
#: ``"truncated": true``), so a huge tree cannot stall a task.
MAX_WALK_ENTRIES = 10_000

_DIR_DOC = (
    "Directory to list, relative to the workspace (the task's working directory): '.' is the "
    "workspace itself, 'src' a subdirectory. Paths outside the workspace are refused."
)
_FILE_DOC = (
    "File path relative to the workspace (the task's working directory), e.g. 'README.md' or "
    "'src/app.py'. Paths outside the workspace are refused."
)


def missing(kind: str, where: WorkspacePath) -> ToolFailure:
    """``no such file: 'x'`` with a hint: close names in the same directory, or how to look."""
    hint = "; filesystem.list with path '.' shows what is in the workspace"
    parent = where.path.parent
    try:
        names = [n for n in os.listdir(parent) if not is_hidden(n)]
    except OSError:
        names = []
    wanted = where.path.name
    same_stem = [n for n in names if Path(n).stem.lower() == Path(wanted).stem.lower()]
    close = list(
        dict.fromkeys(same_stem + difflib.get_close_matches(wanted, names, n=3, cutoff=0.6))
    )
    close = close[:3]
    if close and parent.is_relative_to(where.root):
        rel = parent.relative_to(where.root).as_posix()
        shown = [f"'{n}'" if rel in ("", ".") else f"'{rel}/{n}'" for n in close]
        hint = f"; did you mean {' or '.join(shown)}?"
    return ToolFailure(f"no such {kind}: '{where.shown}'{hint}")


class ReadLedger:
    """Which files each task has seen, for ``tools.read_before_write``.

    Per task id: absolute path → ``(size in bytes, mtime in ns)`` as the
    task last saw the file, through ``filesystem.read`` or its own
    ``filesystem.write``. Kept in memory for the :data:`MAX_TASKS` most
    recent tasks of this process: a task resumed in another process reads a
    file again before replacing it, which is what it should do anyway.
    Thread-safe (tools run in worker threads)."""

    MAX_TASKS = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: OrderedDict[str, dict[str, tuple[int, int]]] = OrderedDict()

    def note(self, task_id: str | None, path: Path, st: os.stat_result) -> None:
        """Record that ``task_id`` saw ``path`` as it is in ``st``."""
        if task_id is None:
            return
        with self._lock:
            self._tasks.setdefault(task_id, {})[str(path)] = (st.st_size, st.st_mtime_ns)
            self._tasks.move_to_end(task_id)
            while len(self._tasks) > self.MAX_TASKS:
                self._tasks.popitem(last=False)

    def refresh(self, task_id: str | None, path: Path, st: os.stat_result) -> None:
        """:meth:`note` ``path`` again only if ``task_id`` had seen it: after
        the task appended to a file it never read, it still has not seen it."""
        if task_id is not None and self.seen(task_id, path) is not None:
            self.note(task_id, path, st)

    def seen(self, task_id: str, path: Path) -> tuple[int, int] | None:
        """``(size, mtime_ns)`` of ``path`` when ``task_id`` last saw it, or None."""
        with self._lock:
            return self._tasks.get(task_id, {}).get(str(path))


#: The ledger ``filesystem.read`` and ``filesystem.write`` share.
READS = ReadLedger()


def check_read_before_write(ctx: ToolContext, where: WorkspacePath, st: os.stat_result) -> None:
    """Raise :class:`ToolFailure` when replacing the existing file ``where``
    (now as in ``st``) would lose text this task has not seen: it is not
    empty and the task has not read it, or it changed since. Does nothing
    when ``tools.read_before_write`` is off or the call has no task id
    (a call from ``az mcp serve``)."""
    if ctx.task_id is None or not ctx.config.tools.read_before_write or st.st_size == 0:
        return
    seen = READS.seen(ctx.task_id, where.path)
    if seen is None:
        raise ToolFailure(
            f"'{where.shown}' already exists ({st.st_size:,} bytes) and this task has not read "
            "it: read it with filesystem.read first, then write the whole new text; or set "
            "append to true to add to its end"
        )
    if seen != (st.st_size, st.st_mtime_ns):
        raise ToolFailure(
            f"'{where.shown}' changed since this task read it: read it again before replacing it"
        )


def _entry(name: str, st: os.stat_result | None, is_link: bool) -> dict[str, Any]:
    if is_link:
        return {"name": name, "type": "symlink", "size": None}
    if st is not None and stat.S_ISDIR(st.st_mode):
        return {"name": name, "type": "dir", "size": None}
    return {"name": name, "type": "file", "size": st.st_size if st is not None else None}


class ListTool(BuiltinTool):
    """``filesystem.list``: the entries of a workspace directory."""

    spec = ToolSpec(
        name="filesystem.list",
        description=(
            "List the files and directories in a directory of the workspace. Returns "
            '{"path", "entries": [{"name", "type": "file"|"dir"|"symlink", "size"}], '
            '"count", "files", "dirs", "truncated"}; "count" is the number of entries, '
            '"files" and "dirs" count each kind. Sizes are bytes (null for dirs and symlinks). '
            "Hidden entries (names starting with '.') are left out unless include_hidden is true."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": _DIR_DOC, "default": "."},
                "recursive": {
                    "type": "boolean",
                    "description": "Also list every subdirectory; names are then relative paths "
                    "like 'src/main.py'. Symlinked directories are not followed.",
                    "default": False,
                },
                "include_hidden": {
                    "type": "boolean",
                    "description": "Include entries whose name starts with '.'.",
                    "default": False,
                },
            },
            "required": [],
            "additionalProperties": False,
        },
        category="filesystem",
        read_only=True,
    )

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        where = resolve(ctx, args.get("path"))
        hidden = bool(args.get("include_hidden"))
        try:
            st = os.stat(where.path)
        except FileNotFoundError:
            raise missing("directory", where) from None
        if not stat.S_ISDIR(st.st_mode):
            raise ToolFailure(f"'{where.shown}' is a file, not a directory; use filesystem.read")
        entries: list[dict[str, Any]] = []
        walk_cut = False
        if args.get("recursive"):
            found, walk_cut = walk(where.path, hidden)
            entries = [_entry(name, _lstat_target(e), e.is_symlink()) for name, e in found]
        else:
            try:
                with os.scandir(where.path) as it:
                    items = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                raise ToolFailure(os_error_line(exc, where.shown)) from None
            for e in items:
                if not hidden and is_hidden(e.name):
                    continue
                entries.append(_entry(e.name, _lstat_target(e), e.is_symlink()))
        shown, cut = fit_items(entries, output_limit(ctx))
        return {
            "path": where.shown,
            "entries": shown,
            "count": len(entries),
            "files": sum(1 for e in entries if e["type"] == "file"),
            "dirs": sum(1 for e in entries if e["type"] == "dir"),
            "truncated": cut or walk_cut,
        }


def walk(top: Path, hidden: bool) -> tuple[list[tuple[str, os.DirEntry[str]]], bool]:
    """Every entry below directory ``top``, depth-first and sorted by name (a
    directory's entries, then each subdirectory's), as ``(relative name with
    forward slashes, DirEntry)``. Symlinked directories are listed but not
    entered; unreadable subdirectories are skipped; names starting with ``.``
    are left out unless ``hidden``. Returns ``(entries, cut)``: ``cut`` is True
    when :data:`MAX_WALK_ENTRIES` stopped the walk. Used by ``filesystem.list``
    and ``filesystem.search``."""
    out: list[tuple[str, os.DirEntry[str]]] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(top / rel if rel else top) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # unreadable subdirectory: skip it, keep the rest
        subdirs = []
        for e in items:
            if not hidden and is_hidden(e.name):
                continue
            name = f"{rel}/{e.name}" if rel else e.name
            out.append((name, e))
            if len(out) >= MAX_WALK_ENTRIES:
                return out, True
            try:
                if e.is_dir(follow_symlinks=False):
                    subdirs.append(name)
            except OSError:
                pass
        stack.extend(reversed(subdirs))
    return out, False


def _lstat_target(e: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return e.stat(follow_symlinks=False)
    except OSError:
        return None


class ReadTool(BuiltinTool):
    """``filesystem.read``: a text file of the workspace, whole or a line range."""

    spec = ToolSpec(
        name="filesystem.read",
        description=(
            "Read a text file in the workspace. Give start_line/end_line (1-based, inclusive) "
            'to read part of it. Returns {"path", "content", "encoding", "size", '
            '"start_line", "end_line", "total_lines", "truncated"}; size is in bytes; '
            "total_lines is the number of lines in the whole file (null only for a file too "
            "large to count). Long content is cut and says which start_line to continue from."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": _FILE_DOC},
                "encoding": {
                    "type": "string",
                    "description": "Text encoding of the file, e.g. utf-8 or latin-1.",
                    "default": "utf-8",
                },
                "start_line": {
                    "type": "integer",
                    "description": "First line to return (1 = the first line).",
                    "minimum": 1,
                },
                "end_line": {
                    "type": "integer",
                    "description": "Last line to return (inclusive); omit to read to the end.",
                    "minimum": 1,
                },
            },
            "required": ["path"],
            "additionalProperties": False,
        },
        category="filesystem",
        read_only=True,
    )

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        where = resolve(ctx, args["path"])
        encoding = check_encoding(args.get("encoding") or "utf-8")
        start = args.get("start_line") or 1
        end = args.get("end_line")
        if start < 1:
            raise ToolFailure(f"start_line must be 1 or more, got {start}")
        if end is not None and end < start:
            raise ToolFailure(f"end_line ({end}) is before start_line ({start})")
        try:
            st = os.stat(where.path)
        except FileNotFoundError:
            raise missing("file", where) from None
        if stat.S_ISDIR(st.st_mode):
            raise ToolFailure(f"'{where.shown}' is a directory; use filesystem.list")
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise ToolFailure(f"'{where.shown}' is not a regular file")
        limit = output_limit(ctx)
        parts: list[str] = []
        used = 0
        last = start - 1
        total: int | None = None
        truncated = False
        lineno = 0
        try:
            with open(where.path, encoding=encoding, newline="") as f:
                confirm_opened(f.fileno(), where)
                counting = False  # past what is returned: only counting lines
                counted = 0  # characters read while counting
                for lineno, line in _bounded_lines(f, limit + 1):  # noqa: B007 - used below
                    if counting:
                        counted += len(line)
                        if counted > COUNT_LINES_MAX_CHARS:
                            break  # total_lines stays unknown (null)
                        continue
                    if lineno < start:
                        continue
                    if end is not None and lineno > end:
                        counting = True
                        continue
                    size = len(line.encode("utf-8"))
                    if used + size > limit:
                        truncated = True
                        if not parts:  # one line longer than the limit: keep its start
                            clipped, _ = clip_text(line, limit)
                            parts.append(clipped.split("\n[... truncated")[0])
                            last = lineno
                        counting = True
                        continue
                    parts.append(line)
                    used += size
                    last = lineno
                else:
                    total = lineno
        except UnicodeDecodeError:
            raise ToolFailure(
                f"'{where.shown}' is not valid {encoding} text (a binary file?); "
                "try encoding 'latin-1' to see its bytes as text"
            ) from None
        except OSError as exc:
            raise ToolFailure(os_error_line(exc, where.shown)) from None
        if total is not None and start > max(total, 1):
            raise ToolFailure(
                f"start_line {start} is past the end of '{where.shown}' ({total} lines)"
            )
        READS.note(ctx.task_id, where.path, st)
        content = "".join(parts)
        if truncated:
            content += (
                f"\n[... truncated: output limit of {limit} bytes reached "
                f"(tools.output_limit_bytes); continue with start_line={last + 1}]"
            )
        return {
            "path": where.shown,
            "content": content,
            "encoding": encoding,
            "size": st.st_size,
            "start_line": start,
            "end_line": last,
            "total_lines": total,
            "truncated": truncated,
        }


def _bounded_lines(f: Any, chunk: int) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` from text file ``f``, each line cut to at most
    ``chunk`` characters: the rest of a longer line is read and dropped in
    ``chunk``-sized pieces, so a file with no newline never sits in memory
    whole (a 300 MB one-line file costs ``chunk`` characters, not 300 MB)."""
    lineno = 0
    while True:
        line = f.readline(chunk)
        if not line:
            return
        lineno += 1
        if len(line) == chunk and not line.endswith(("\n", "\r")):
            while True:  # skip the rest of this line
                more = f.readline(chunk)
                if len(more) < chunk or more.endswith(("\n", "\r")):
                    break
        yield lineno, line


def _byte_count(content: str, encoding: str) -> int | None:
    try:
        return len(content.encode(encoding))
    except (LookupError, UnicodeEncodeError):
        return None


class WriteTool(BuiltinTool):
    """``filesystem.write``: create, overwrite or append to a workspace file."""

    spec = ToolSpec(
        name="filesystem.write",
        description=(
            "Write text to a file in the workspace, creating it (and its parent directories) "
            'if needed. Replaces the whole file unless append is true. Returns {"path", '
            '"bytes_written", "size", "created", "append"}; sizes are bytes.'
        ),
        input_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": _FILE_DOC},
                "content": {"type": "string", "description": "The exact text to write."},
                "encoding": {
                    "type": "string",
                    "description": "Text encoding to write with.",
                    "default": "utf-8",
                },
                "append": {
                    "type": "boolean",
                    "description": "true: add the content after the file's existing text, "
                    "which is kept; false: replace the whole file with the content.",
                    "default": False,
                },
            },
            "required": ["path", "content"],
            "additionalProperties": False,
        },
        category="filesystem",
        read_only=False,
    )

    def describe_call(self, arguments: dict[str, Any]) -> str:
        """``filesystem.write: replace 'notes.txt' with 42 bytes (utf-8)``, or ``append``."""
        path = arguments.get("path", "?")
        encoding = arguments.get("encoding") or "utf-8"
        content = arguments.get("content")
        n = _byte_count(content, encoding) if isinstance(content, str) else None
        amount = f"{n} bytes" if n is not None else "content"
        if arguments.get("append"):
            return f"filesystem.write: append {amount} to '{path}' ({encoding}) in the workspace"
        return (
            f"filesystem.write: write {amount} to '{path}' ({encoding}), replacing it if it exists"
        )

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        where = resolve(ctx, args["path"])
        if where.path == where.root:
            raise ToolFailure("give a file path to write, not the workspace itself")
        encoding = check_encoding(args.get("encoding") or "utf-8")
        append = bool(args.get("append"))
        try:
            data = args["content"].encode(encoding)
        except UnicodeEncodeError as exc:
            raise ToolFailure(
                f"the content cannot be written as {encoding}: {exc.reason} "
                f"at character {exc.start}"
            ) from None
        cap = int(ctx.config.tools.max_write_bytes)
        if len(data) > cap:
            raise ToolFailure(
                f"{len(data):,} bytes is more than filesystem.write takes in one call "
                f"({cap:,} bytes, tools.max_write_bytes)"
            )
        target = where.path
        if target.is_dir():
            raise ToolFailure(f"'{where.shown}' is a directory")
        existed = target.exists()
        if existed and not target.is_file():
            raise ToolFailure(f"'{where.shown}' is not a regular file")
        if existed and not append:
            check_read_before_write(ctx, where, target.stat())
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if append:
                with open(target, "ab") as f:
                    confirm_opened(f.fileno(), where)
                    f.write(data)
            elif existed:
                replace_file(where, lambda f: f.write(data))
            else:
                create_file(where, lambda f: f.write(data))
            after = target.stat()
            size = after.st_size
        except NotADirectoryError:
            raise ToolFailure(f"a parent of '{where.shown}' is a file, not a directory") from None
        except OSError as exc:
            raise ToolFailure(os_error_line(exc, where.shown)) from None
        if append and existed:
            READS.refresh(ctx.task_id, target, after)
        else:
            READS.note(ctx.task_id, target, after)
        return {
            "path": where.shown,
            "bytes_written": len(data),
            "size": size,
            "created": not existed,
            "append": append,
        }


def create_file(where: WorkspacePath, fill: Callable[[BinaryIO], object]) -> None:
    """Create the new file ``where`` (FileExistsError if it exists) and let
    ``fill`` write its bytes. Refused with ToolFailure, and the file removed,
    when the opened file turns out to lie outside the workspace (a parent
    swapped for a symlink after the check)."""
    with open(where.path, "xb") as f:
        try:
            confirm_opened(f.fileno(), where)
        except ToolFailure:
            os.unlink(os.readlink(f"/proc/self/fd/{f.fileno()}"))
            raise
        fill(f)


def replace_file(
    where: WorkspacePath, fill: Callable[[BinaryIO], object], mode: int | None = None
) -> None:
    """Replace the existing file ``where`` with the bytes ``fill`` writes:
    into a temp file next to it, renamed over it, so a crash never leaves a
    half-written file. The file keeps its permission bits, or gets ``mode``."""
    target = where.path
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".az-tmp", dir=target.parent)
    try:
        confirm_opened(fd, where)
        with os.fdopen(fd, "wb") as f:
            fill(f)
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class CopyTool(BuiltinTool):
    """``filesystem.copy``: copy one file of the workspace, byte for byte."""

    spec = ToolSpec(
        name="filesystem.copy",
        description=(
            "Copy a file of the workspace to another path, byte for byte, keeping its "
            "permissions. A destination that is a directory receives the file under its own "
            "name; missing parent directories are created. An existing destination file is "
            'replaced only with overwrite true. Returns {"path", "destination", '
            '"bytes_copied", "created"}; sizes are bytes.'
        ),
        input_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "The file to copy. " + _FILE_DOC},
                "destination": {
                    "type": "string",
                    "description": "Where the copy goes: a new file path, or a directory to "
                    "copy into, relative to the workspace.",
                },
                "overwrite": {
                    "type": "boolean",
                    "description": "true: replace the destination file if it exists; false: "
                    "refuse to.",
                    "default": False,
                },
            },
            "required": ["path", "destination"],
            "additionalProperties": False,
        },
        category="filesystem",
        read_only=False,
    )

    def describe_call(self, arguments: dict[str, Any]) -> str:
        """``filesystem.copy: copy 'a.txt' to 'b.txt'`` (``, replacing it`` with overwrite)."""
        line = (
            f"filesystem.copy: copy '{arguments.get('path', '?')}' to "
            f"'{arguments.get('destination', '?')}' in the workspace"
        )
        return line + (", replacing it if it exists" if arguments.get("overwrite") else "")

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        src = resolve(ctx, args["path"])
        if not src.path.exists():
            raise missing("file", src)
        if src.path.is_dir():
            raise ToolFailure(
                f"'{src.shown}' is a directory: filesystem.copy copies one file "
                "(shell.execute with cp -r copies a directory)"
            )
        if not src.path.is_file():
            raise ToolFailure(f"'{src.shown}' is not a regular file")
        dst = resolve(ctx, args["destination"])
        if dst.path.is_dir():  # like cp: into the directory, under the source's name
            dst = resolve(ctx, f"{dst.shown}/{src.path.name}")
        if dst.path == src.path:
            raise ToolFailure(f"'{src.shown}' and '{dst.shown}' are the same file")
        existed = dst.path.exists()
        if existed:
            if not dst.path.is_file():
                raise ToolFailure(f"'{dst.shown}' exists and is not a regular file")
            if not args.get("overwrite"):
                raise ToolFailure(
                    f"'{dst.shown}' already exists: set overwrite to true to replace it, "
                    "or give another destination"
                )
            check_read_before_write(ctx, dst, dst.path.stat())
        try:
            with open(src.path, "rb") as fin:
                confirm_opened(fin.fileno(), src)
                mode = stat.S_IMODE(os.fstat(fin.fileno()).st_mode)

                def fill(fout: BinaryIO) -> None:
                    shutil.copyfileobj(fin, fout)

                try:
                    dst.path.parent.mkdir(parents=True, exist_ok=True)
                except (FileExistsError, NotADirectoryError):
                    raise ToolFailure(
                        f"a parent of '{dst.shown}' is a file, not a directory"
                    ) from None
                if existed:
                    replace_file(dst, fill, mode=mode)
                else:
                    try:
                        create_file(dst, fill)
                    except FileExistsError:
                        raise ToolFailure(
                            f"'{dst.shown}' appeared while copying; nothing replaced"
                        ) from None
                    os.chmod(dst.path, mode)
            size = dst.path.stat().st_size
        except OSError as exc:
            raise ToolFailure(os_error_line(exc, dst.shown)) from None
        # The task has not seen the copy's text: replacing it later still needs a read.
        return {
            "path": src.shown,
            "destination": dst.shown,
            "bytes_copied": size,
            "created": not existed,
        }
