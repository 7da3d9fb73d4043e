"""What the dashboard reads, through the kernel's contracts only.

No Textual here: :class:`Source` wraps the :class:`~az_os.storage.Storage`
backend, the config and the plugin host, and turns them into the plain
values the views show. Every method is synchronous and may block on the
database; the app calls them from worker threads.

Sources of numbers: tasks, turns, tokens and USD are the ones the engine
stored (``Task.cost_usd`` etc.); spend by day and by model comes from the
``cost_tracking`` rows az-cost writes (``Storage.list_costs``); the budget
and alert threshold are the ``[cost]`` config section
(``budget_usd``, ``budget_period``, ``alert_pct``); health comes from the
``az_health_checks`` hook; system metrics from psutil.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from az_os.types import HealthResult, Task, TaskStatus, Turn

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.plugins import PluginHost
    from az_os.storage import Storage

#: Status filters the Tasks view cycles through (None: every status).
STATUS_FILTERS: tuple[TaskStatus | None, ...] = (None, *TaskStatus)

#: Cost periods, calendar units in local time as az-cost defines them.
PERIODS = ("daily", "weekly", "monthly", "all")

#: Seconds of overlap when polling for changed tasks: a write that commits
#: a little after a later one is still seen.
POLL_OVERLAP_S = 2.0


def local_midnight(day: date) -> datetime:
    """Local midnight of ``day`` as an aware datetime (DST-correct)."""
    return datetime(day.year, day.month, day.day).astimezone()


def period_start(period: str, now: datetime) -> datetime | None:
    """Start of the calendar ``period`` (daily, weekly = ISO week, monthly,
    all = None) that contains ``now``, in local time."""
    today = now.astimezone().date()
    if period == "daily":
        return local_midnight(today)
    if period == "weekly":
        return local_midnight(today - timedelta(days=today.weekday()))
    if period == "monthly":
        return local_midnight(today.replace(day=1))
    if period == "all":
        return None
    raise ValueError(f"unknown period {period!r}: expected one of {', '.join(PERIODS)}")


@dataclass
class Budget:
    """The ``[cost]`` budget: ``amount_usd`` per ``period``, ``alert_pct`` (0 = never),
    ``spent_usd`` so far in the current period."""

    amount_usd: float
    period: str
    alert_pct: float
    spent_usd: float

    @property
    def percent_used(self) -> float:
        """Spent as % of the amount (100 when the amount is 0 and anything was spent)."""
        if self.amount_usd <= 0:
            return 100.0 if self.spent_usd > 0 else 0.0
        return 100.0 * self.spent_usd / self.amount_usd

    @property
    def level(self) -> str:
        """``ok``, ``alert`` (at or past the threshold) or ``over`` (spent)."""
        if self.spent_usd >= self.amount_usd and (self.amount_usd > 0 or self.spent_usd > 0):
            return "over"
        if self.alert_pct and self.percent_used >= self.alert_pct:
            return "alert"
        return "ok"


@dataclass
class CostSummary:
    """Spend over a period: total USD and calls, USD by local day (every day
    of the period, oldest first) and by model (largest first)."""

    period: str
    since: datetime | None
    total_usd: float = 0.0
    calls: int = 0
    by_day: list[tuple[date, float]] = field(default_factory=list)
    by_model: list[tuple[str, float, int]] = field(default_factory=list)
    budget: Budget | None = None


class Source:
    """The dashboard's window on az: storage, config and plugin host.

    ``now`` gives the current UTC time (tests fix it for stable snapshots).
    """

    def __init__(
        self,
        config: AzConfig | None = None,
        storage: Storage | None = None,
        host: PluginHost | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._config = config
        self._storage = storage
        self._host = host
        self.now = now or (lambda: datetime.now(UTC))
        self._undo: bool | None = None

    @property
    def config(self) -> AzConfig:
        if self._config is None:
            from az_os.config import load_config

            self._config = load_config()
        return self._config

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            from az_os.drivers import get_storage

            self._storage = get_storage(self.config)
        return self._storage

    @property
    def host(self) -> PluginHost:
        if self._host is None:
            from az_os.plugins import get_host

            self._host = get_host()
        return self._host

    # -- tasks -------------------------------------------------------------
    def task_page(
        self, status: TaskStatus | None, text: str, limit: int, offset: int = 0
    ) -> list[Task]:
        """Newest-first page of tasks with ``status`` whose id, description or
        model contains ``text`` (all when empty)."""
        if text:
            return self.storage.search_tasks(text, status=status, limit=limit, offset=offset)
        return self.storage.list_tasks(status=status, limit=limit, offset=offset)

    def count(self, status: TaskStatus | None) -> int:
        """How many tasks have ``status`` (all when None)."""
        return self.storage.count_tasks(status=status)

    def changed_since(self, since: datetime | None, limit: int = 500) -> list[Task]:
        """Tasks updated at or after ``since`` minus :data:`POLL_OVERLAP_S`
        (least recently updated first)."""
        if since is None:
            return []
        return self.storage.list_tasks_updated_since(
            since - timedelta(seconds=POLL_OVERLAP_S), limit
        )

    def turn_counts(self, task_ids: list[str]) -> dict[str, int]:
        """Stored turns per task."""
        return self.storage.count_turns(task_ids)

    def task(self, task_id: str) -> Task | None:
        return self.storage.get_task(task_id)

    def turns(self, task_id: str) -> list[Turn]:
        """Every stored turn of the task, in order."""
        return self.storage.list_turns(task_id)

    def turns_after(self, task_id: str, index: int) -> list[Turn]:
        """The task's turns with an index above ``index`` (the ones a viewer
        that has shown up to ``index`` has not seen), in order."""
        return self.storage.list_turns_after(task_id, index)

    # -- cost --------------------------------------------------------------
    def budget(self, now: datetime | None = None) -> Budget | None:
        """The ``[cost]`` budget with what was spent in its current period,
        or None when no budget is set (or the section is invalid)."""
        section = self.config.section("cost")
        amount = section.get("budget_usd")
        if amount is None:
            return None
        try:
            amount_usd = float(amount)
            alert = float(section.get("alert_pct", 80))
        except (TypeError, ValueError):
            return None
        period = str(section.get("budget_period", "monthly"))
        if period not in PERIODS[:3]:
            period = "monthly"
        since = period_start(period, now or self.now())
        spent = self.storage.total_cost(since=since)
        return Budget(amount_usd=amount_usd, period=period, alert_pct=alert, spent_usd=spent)

    def cost_summary(self, period: str) -> CostSummary:
        """Spend by day and by model over ``period`` (one of :data:`PERIODS`)."""
        now = self.now()
        since = period_start(period, now)
        rows = self.storage.list_costs(since=since)
        out = CostSummary(period=period, since=since, budget=self.budget(now))
        days: dict[date, float] = {}
        models: dict[str, list[float]] = {}
        for r in rows:
            day = r.timestamp.astimezone().date()
            days[day] = days.get(day, 0.0) + r.cost_usd
            m = models.setdefault(r.model, [0.0, 0])
            m[0] += r.cost_usd
            m[1] += 1
            out.total_usd += r.cost_usd
            out.calls += 1
        first = since.date() if since else (min(days) if days else now.astimezone().date())
        last = now.astimezone().date()
        day = first
        while day <= last:
            out.by_day.append((day, days.get(day, 0.0)))
            day += timedelta(days=1)
        out.by_model = sorted(
            ((k, v[0], int(v[1])) for k, v in models.items()), key=lambda x: (-x[1], x[0])
        )
        return out

    # -- health ------------------------------------------------------------
    def health(self) -> list[HealthResult]:
        """Every registered ``az_health_checks`` check, run at once with the
        kernel's :func:`~az_os.health.host_health` (5 s bound; a check that
        raises or hangs is reported unhealthy); empty when no plugin registers any."""
        from az_os.health import host_health

        return host_health(self.host)[1]

    @staticmethod
    def system_metrics() -> dict[str, float]:
        """``cpu_pct``, ``memory_pct``, ``memory_used_bytes``, ``disk_pct`` (of
        the az home's file system), ``load_1m`` (0 where unknown), from psutil."""
        import psutil

        mem = psutil.virtual_memory()
        try:
            load = psutil.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
        try:
            from az_os.config import az_home

            home = az_home()
            disk = psutil.disk_usage(str(home if home.exists() else home.anchor or "/")).percent
        except OSError:
            disk = 0.0
        return {
            "cpu_pct": float(psutil.cpu_percent(interval=None)),
            "memory_pct": float(mem.percent),
            "memory_used_bytes": float(mem.used),
            "disk_pct": float(disk),
            "load_1m": float(load),
        }

    # -- capabilities --------------------------------------------------------
    def can_undo(self) -> bool:
        """True when a plugin provides ``az undo`` (a checkpoint plugin such
        as az-git), once: among the commands plugins declare
        (``az.commands``), else among those the other plugins of the host
        register through ``az_register_commands``."""
        if self._undo is None:
            from az_os.commands import declared

            found = declared()
            if "undo" in found.commands:
                self._undo = True
                return True
            import typer

            probe = typer.Typer()
            try:
                self.host.register_commands(probe, skip=found.plugins)
            except Exception:  # noqa: BLE001 - a broken plugin means no undo
                self._undo = False
                return False
            names = {c.name for c in probe.registered_commands}
            names |= {g.name for g in probe.registered_groups}
            self._undo = "undo" in names
        return self._undo


def age(when: datetime, now: datetime) -> str:
    """A short age: ``42s``, ``5m``, ``3h``, ``12d``."""
    s = max(0.0, (now - when).total_seconds())
    if s < 60:
        return f"{int(s)}s"
    if s < 3600:
        return f"{int(s // 60)}m"
    if s < 86400:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"


def monotonic_ms() -> float:
    return time.perf_counter() * 1000
