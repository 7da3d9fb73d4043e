"""The Health view: the registered health checks (``az_health_checks``) and
system metrics (psutil), refreshed every few seconds while visible.

With no health plugin installed there are no checks: the view says so in
one dim line instead of showing an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from az_os.types import HealthResult
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

if TYPE_CHECKING:  # pragma: no cover
    from az_tui.app import Dashboard

HEALTH_STYLE = {"ok": "green", "degraded": "yellow", "unhealthy": "bold red"}


class HealthView(Vertical):
    """Checks and metrics."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._started = False
        self._busy = False

    @property
    def dash(self) -> Dashboard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="metrics")
        yield Static("", id="no-health")
        table: DataTable[Any] = DataTable(id="checks", cursor_type="row")
        table.add_column("check", key="name")
        table.add_column("status", key="status")
        table.add_column("detail", key="detail")
        yield table

    def activate(self) -> None:
        if not self._started:
            self._started = True
            self.set_interval(self.dash.health_s, self.refresh_data)
        self.refresh_data()

    def refresh_data(self) -> None:
        if self._busy or not self.is_on_screen:
            return
        self._busy = True
        self._load()

    @work(thread=True, exclusive=True, group="health")
    def _load(self) -> None:
        try:
            checks = self.dash.source.health()
            metrics = self.dash.metrics_fn()
        finally:
            self._busy = False
        self.app.call_from_thread(self.show, checks, metrics)

    def show(self, checks: list[HealthResult], metrics: dict[str, float]) -> None:
        t = Text()
        t.append("System  ", style="bold")
        t.append(f"CPU {metrics.get('cpu_pct', 0):.0f}%  ·  ")
        t.append(f"memory {metrics.get('memory_pct', 0):.0f}%")
        used = metrics.get("memory_used_bytes", 0) / 2**30
        t.append(f" ({used:.1f} GiB)  ·  disk {metrics.get('disk_pct', 0):.0f}%  ·  ")
        t.append(f"load {metrics.get('load_1m', 0):.2f}")
        self.query_one("#metrics", Static).update(t)
        table = self.query_one("#checks", DataTable)
        note = self.query_one("#no-health", Static)
        table.display = bool(checks)
        note.update(
            ""
            if checks
            else Text(
                "No health checks registered (a health plugin such as az-telemetry adds them).",
                style="dim",
            )
        )
        table.clear()
        for r in checks:
            table.add_row(r.name, Text(r.status, style=HEALTH_STYLE.get(r.status, "")), r.detail)
