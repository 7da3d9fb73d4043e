"""az-server's hooks: ``az serve`` and a ``server`` health check.

Importing this module costs only the kernel: FastAPI, uvicorn and
prometheus_client are imported when the server starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_server.manager import TaskManager

#: the task manager of the server running in this process, if any
CURRENT: TaskManager | None = None


@hookimpl
def az_health_checks(register: Callable[..., None]) -> None:
    """``server.queue``: in a process running the server, degraded when the
    queue is 80% full or the server is stopping."""
    manager = CURRENT
    if manager is None:
        return

    def check() -> Any:
        from az_os.types import HealthResult

        s = manager.stats()
        full = s["queued"] / s["queue_size"] if s["queue_size"] else 0.0
        status: Literal["ok", "degraded"] = "ok" if s["accepting"] and full < 0.8 else "degraded"
        detail = (
            f"{s['running']}/{s['concurrency']} running, {s['queued']}/{s['queue_size']} queued"
            + ("" if s["accepting"] else ", shutting down")
        )
        return HealthResult(name="server.queue", status=status, detail=detail, data=s)

    register("server.queue", check)
