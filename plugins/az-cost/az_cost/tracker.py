"""The design brief's ``CostTracker`` over any az storage backend.

Every model call is one row of ``cost_tracking`` (a
:class:`~az_os.types.CostRecord`: task, model, input/output/cached tokens,
USD, UTC timestamp), written through the kernel's
:class:`~az_os.storage.Storage` contract, so the numbers are the same for
``az cost show``, the budget check and any other reader of the database.

Periods are calendar units in local time (see :mod:`az_cost.periods`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from az_os.threads import in_thread
from az_os.types import CostRecord, utcnow

from az_cost.periods import local_day, local_now, period_label, period_start

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.storage import Storage

GroupBy = Literal["model", "task", "day"]
GROUPINGS: tuple[str, ...] = get_args(GroupBy)

#: Decimal places of USD in summaries: sums of floats are rounded to 1e-10
#: USD so that 0.1 + 0.2 shows as 0.3 (far below any provider's price step).
MONEY_DIGITS = 10


class CostTracker:
    """Record and sum the money spent on model calls (USD).

    ``storage`` defaults to the configured backend
    (:func:`az_os.drivers.get_storage`), opened on first use. The async
    methods are the brief's API and run storage calls in a worker thread;
    each has a synchronous twin for code that is not async.
    """

    def __init__(self, storage: Storage | None = None, config: AzConfig | None = None) -> None:
        self._storage = storage
        self._config = config

    @property
    def storage(self) -> Storage:
        """The storage backend (opened on first use; PluginMissingError
        when none is installed, StorageError when it cannot be opened)."""
        if self._storage is None:
            from az_os.drivers import get_storage

            self._storage = get_storage(self._config)
        return self._storage

    # -- writing ---------------------------------------------------------
    def record(self, record: CostRecord) -> CostRecord:
        """Append one cost row; returns it."""
        self.storage.add_cost(record)
        return record

    async def track(
        self,
        task_id: str | None,
        cost: float,
        model: str,
        tokens: int,
        *,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        timestamp: datetime | None = None,
    ) -> CostRecord:
        """Record one model call: ``cost`` USD on ``model`` for ``task_id``.

        ``tokens`` is the call's total (prompt + completion) as in the brief;
        give ``output_tokens`` to split it (input = tokens - output_tokens)
        and ``cached_tokens`` for the part of the input read from a prompt
        cache. ``timestamp`` defaults to now (UTC).
        Raises ValueError for negative amounts or output > total, and the
        backend's NotFoundError when ``task_id`` names no stored task (use
        ``None`` for calls outside a task).
        """
        if cost < 0 or tokens < 0 or output_tokens < 0 or cached_tokens < 0:
            raise ValueError("cost and token counts must not be negative")
        if output_tokens > tokens:
            raise ValueError(f"output_tokens ({output_tokens}) exceeds tokens ({tokens})")
        record = CostRecord(
            task_id=task_id,
            model=model,
            input_tokens=tokens - output_tokens,
            output_tokens=output_tokens,
            cached_tokens=min(cached_tokens, tokens - output_tokens),
            cost_usd=cost,
            timestamp=timestamp or utcnow(),
        )
        return await in_thread(self.record, record)

    # -- reading ---------------------------------------------------------
    def total(self, period: str = "daily", now: datetime | None = None) -> float:
        """USD spent in the period containing ``now`` (see
        :func:`~az_cost.periods.period_start`). ValueError for an unknown
        period."""
        start = period_start(period, now)
        since = start.astimezone(UTC) if start is not None else None
        return float(self.storage.total_cost(since=since))

    async def get_total_cost(self, period: str = "daily") -> float:
        """USD spent in the current ``daily`` (calendar day), ``weekly``
        (ISO week from Monday), ``monthly`` (calendar month) or ``all``
        period, in local time. ValueError for an unknown period."""
        return await in_thread(self.total, period)

    def task_total(self, task_id: str) -> float:
        """USD recorded for one task (0.0 when nothing was)."""
        return float(self.storage.total_cost(task_id=task_id))

    async def get_cost_by_task(self, task_id: str) -> float:
        """USD recorded for one task (0.0 for an unknown task)."""
        return await in_thread(self.task_total, task_id)

    def records(self, period: str = "all", now: datetime | None = None) -> list[CostRecord]:
        """The cost rows of the period, oldest first."""
        start = period_start(period, now)
        since = start.astimezone(UTC) if start is not None else None
        return self.storage.list_costs(since=since)

    def summary(
        self, period: str = "daily", by: str = "model", now: datetime | None = None
    ) -> dict[str, Any]:
        """Totals of the period, grouped ``by`` model, task or local day.

        Returns (the ``az cost show --json`` shape)::

            {"period": "daily", "label": "2026-11-21",
             "since": "2026-11-21T00:00:00+01:00" | null (all),
             "now": "...", "by": "model",
             "total_usd": float, "calls": int,
             "input_tokens": int, "output_tokens": int, "cached_tokens": int,
             "rows": [{"key": str | null, "description": str | null,
                       "calls": int, "input_tokens": int, "output_tokens": int,
                       "cached_tokens": int, "cost_usd": float}]}

        ``key`` is the model id, the task id (null for calls outside a
        task) or the local date ``YYYY-MM-DD``; ``description`` is the
        task's description (``by="task"`` only). Rows are sorted by cost,
        highest first (by day: oldest first). ValueError for an unknown
        period or grouping.
        """
        if by not in GROUPINGS:
            raise ValueError(f"unknown grouping {by!r}: expected one of {', '.join(GROUPINGS)}")
        now = (now or local_now()).astimezone()
        start = period_start(period, now)
        rows: dict[str | None, dict[str, Any]] = {}
        totals = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
        total_usd = 0.0
        for rec in self.records(period, now):
            if by == "model":
                key: str | None = rec.model
            elif by == "task":
                key = rec.task_id
            else:
                key = local_day(rec.timestamp)
            row = rows.setdefault(
                key,
                {
                    "key": key,
                    "description": None,
                    "calls": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cached_tokens": 0,
                    "cost_usd": 0.0,
                },
            )
            row["calls"] += 1
            row["input_tokens"] += rec.input_tokens
            row["output_tokens"] += rec.output_tokens
            row["cached_tokens"] += rec.cached_tokens
            row["cost_usd"] += rec.cost_usd
            totals["calls"] += 1
            totals["input_tokens"] += rec.input_tokens
            totals["output_tokens"] += rec.output_tokens
            totals["cached_tokens"] += rec.cached_tokens
            total_usd += rec.cost_usd
        out_rows = list(rows.values())
        if by == "day":
            out_rows.sort(key=lambda r: r["key"])
        else:
            out_rows.sort(key=lambda r: (-r["cost_usd"], str(r["key"])))
        for row in out_rows:
            row["cost_usd"] = round(row["cost_usd"], MONEY_DIGITS)
        if by == "task":
            for row in out_rows:
                if row["key"] is not None:
                    task = self.storage.get_task(row["key"])
                    row["description"] = task.description if task is not None else None
        return {
            "period": period,
            "label": period_label(period, now),
            "since": start.isoformat() if start is not None else None,
            "now": now.isoformat(),
            "by": by,
            "total_usd": round(total_usd, MONEY_DIGITS),
            **totals,
            "rows": out_rows,
        }
