"""``process.list``: the processes running on this machine (psutil).

Read-only. Filters: ``filter`` is a case-insensitive substring of the
process name (as ``ps -e`` / Task Manager show it); ``user`` an owner's
user name (case-insensitive; on Windows either ``DOMAIN\\user`` or
``user``). Fields a process does not let us read (another user's, on most
systems) are ``null``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from az_os.tools import ToolContext
from az_os.types import ToolSpec

from az_tools.base import BuiltinTool, fit_items, output_limit

#: Longest command line kept per process (characters).
CMDLINE_CHARS = 200

_ATTRS = ["pid", "ppid", "name", "username", "status", "cmdline", "memory_info", "create_time"]


def _user_matches(owner: str | None, wanted: str) -> bool:
    if not owner:
        return False
    owner, wanted = owner.casefold(), wanted.casefold()
    return owner == wanted or owner.rsplit("\\", 1)[-1] == wanted


def _row(info: dict[str, Any]) -> dict[str, Any]:
    cmd = info.get("cmdline")
    cmdline = " ".join(cmd) if cmd else None
    if cmdline and len(cmdline) > CMDLINE_CHARS:
        cmdline = cmdline[: CMDLINE_CHARS - 3] + "..."
    mem = info.get("memory_info")
    started = info.get("create_time")
    return {
        "pid": info["pid"],
        "ppid": info.get("ppid"),
        "name": info.get("name"),
        "user": info.get("username"),
        "status": info.get("status"),
        "cmdline": cmdline,
        "memory_rss_bytes": getattr(mem, "rss", None),
        "started_at": (
            datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds") if started else None
        ),
    }


class ProcessListTool(BuiltinTool):
    """``process.list``: running processes, optionally filtered by name and user."""

    spec = ToolSpec(
        name="process.list",
        description=(
            "List the processes running on this machine. Give 'filter' to keep only those whose "
            "name contains it, 'user' to keep only that user's. "
            'Returns {"processes": [{"pid", "ppid", "name", "user", "status", "cmdline", '
            '"memory_rss_bytes", "started_at"}], '
            '"count", "truncated"}; count is the number of matching processes, sorted by pid.'
        ),
        input_schema={
            "type": "object",
            "properties": {
                "filter": {
                    "type": "string",
                    "description": "Only processes whose name contains this text "
                    "(case-insensitive), e.g. 'python' or 'nginx'.",
                },
                "user": {
                    "type": "string",
                    "description": "Only processes owned by this user name.",
                },
            },
            "required": [],
            "additionalProperties": False,
        },
        category="system",
        read_only=True,
    )

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        import psutil

        name_filter = (args.get("filter") or "").casefold()
        user = args.get("user") or ""
        rows: list[dict[str, Any]] = []
        for proc in psutil.process_iter(_ATTRS, ad_value=None):
            info = proc.info
            if name_filter and name_filter not in (info.get("name") or "").casefold():
                continue
            if user and not _user_matches(info.get("username"), user):
                continue
            rows.append(_row(info))
        rows.sort(key=lambda r: r["pid"])
        shown, cut = fit_items(rows, output_limit(ctx))
        return {"processes": shown, "count": len(rows), "truncated": cut}
