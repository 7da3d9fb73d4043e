"""What every built-in tool shares: argument checks, error capture, output limits.

A built-in tool subclasses :class:`BuiltinTool` and implements
:meth:`BuiltinTool.execute`, which returns a JSON value (the
``ToolResult.result``) or raises :class:`ToolFailure` for an expected
failure. :meth:`BuiltinTool.run` turns everything into a
:class:`~az_os.types.ToolResult`; a tool never raises to the engine.
"""

from __future__ import annotations

import codecs
import json
import os
import time
from abc import abstractmethod
from typing import Any

from az_os.errors import ToolArgumentsError
from az_os.tools import Tool, ToolContext, validate_arguments
from az_os.types import ToolResult


class ToolFailure(Exception):
    """An expected failure (file not found, path outside the workspace, ...).

    The message is one line for the model; ``result`` is an optional JSON
    value kept in the ToolResult (e.g. the partial output of a command that
    timed out).
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


def output_limit(ctx: ToolContext) -> int:
    """``tools.output_limit_bytes`` from the config in force (default 16384 bytes)."""
    return int(ctx.config.tools.output_limit_bytes)


def check_encoding(name: str) -> str:
    """The codec's canonical name; ToolFailure for an unknown encoding."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ToolFailure(f"unknown encoding '{name}' (try utf-8 or latin-1)") from None


def clip_text(text: str, limit: int, hint: str = "") -> tuple[str, bool]:
    """Keep at most ``limit`` bytes (UTF-8) of ``text``.

    Returns ``(text, truncated)``; when cut, a note at the end says how many
    bytes were dropped, followed by ``hint``.
    """
    from az_os.util import clip_bytes

    kept, cut = clip_bytes(text, limit)
    if not cut:
        return text, False
    note = (
        f"\n[... truncated: {cut} more bytes not shown (tools.output_limit_bytes = {limit}){hint}]"
    )
    return kept + note, True


def fit_items(items: list[Any], limit: int, overhead: int = 256) -> tuple[list[Any], bool]:
    """The longest prefix of ``items`` whose JSON fits in ``limit`` bytes
    (``overhead`` bytes kept for the surrounding object). Returns
    ``(items, truncated)``."""
    size = overhead
    out: list[Any] = []
    for item in items:
        size += len(json.dumps(item, ensure_ascii=False).encode("utf-8")) + 2
        if size > limit:
            return out, True
        out.append(item)
    return out, False


def os_error_line(exc: OSError, shown: str | None = None) -> str:
    """One line for an OSError: ``"<reason>: '<path>'"``."""
    reason = (exc.strerror or type(exc).__name__).lower()
    name = shown if shown is not None else exc.filename
    return f"{reason}: '{name}'" if name else reason


class BuiltinTool(Tool):
    """A tool whose :meth:`execute` returns a JSON value or raises ToolFailure."""

    @abstractmethod
    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        """Do the work with validated arguments (schema defaults filled in)."""

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Validate, execute, and wrap the outcome; never raises.

        ``duration_ms`` is the wall time of the whole call (milliseconds).
        """
        start = time.perf_counter()
        try:
            args = validate_arguments(self.spec, arguments)
            value = self.execute(args, ctx)
        except ToolArgumentsError as exc:
            res = ToolResult(success=False, error=str(exc))
        except ToolFailure as exc:
            res = ToolResult(success=False, error=f"{self.spec.name}: {exc}", result=exc.result)
        except OSError as exc:
            res = ToolResult(success=False, error=f"{self.spec.name}: {os_error_line(exc)}")
        except Exception as exc:  # noqa: BLE001 - a tool bug must not crash the task
            text = str(exc).strip().splitlines()
            res = ToolResult(
                success=False,
                error=f"{self.spec.name} failed: {type(exc).__name__}: {text[0] if text else ''}",
            )
        else:
            res = value if isinstance(value, ToolResult) else ToolResult(success=True, result=value)
        res.duration_ms = (time.perf_counter() - start) * 1000.0
        return res


def is_hidden(name: str) -> bool:
    """Dot files and dot directories count as hidden (on every OS)."""
    return name.startswith(".")


def posix_rel(path: str) -> str:
    """``path`` with forward slashes (what results show on every OS)."""
    return path.replace(os.sep, "/") if os.sep != "/" else path
