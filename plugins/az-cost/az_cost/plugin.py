"""az-cost's hook implementations.

* ``az_before_model_call`` - refuse a call that could cross the period
  budget or the task's ``--max-cost`` cap (:func:`az_cost.budget.check_call`);
* ``az_after_model_call`` - record the call's tokens and USD as a
  ``cost_tracking`` row (:func:`az_cost.budget.record_call`) and warn at the
  alert threshold;
* ``az_task_event`` - forget a finished task's call in flight;
* ``az_health_checks`` - ``cost.budget``: ok below the alert threshold,
  degraded from it on, unhealthy when the budget is spent.

``az cost`` is declared in :mod:`az_cost.commandlist` (``az.commands``).

This module imports only the kernel; the work is imported when a hook runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.models import Model
    from az_os.types import (
        HealthResult,
        HealthStatus,
        ModelRequest,
        ModelResponse,
        Task,
        TaskEvent,
        Usage,
    )

_FINISHED = frozenset({"completed", "failed", "cancelled", "interrupted"})


@hookimpl
def az_before_model_call(task: Task, request: ModelRequest, model: Model) -> None:
    """Refuse (BudgetExceededError) a call whose worst case could cross a budget."""
    from az_cost.budget import check_call

    check_call(task, request, model)


@hookimpl
def az_after_model_call(
    task: Task, request: ModelRequest, response: ModelResponse, usage: Usage
) -> None:
    """Record the call's cost (one ``cost_tracking`` row)."""
    from az_cost.budget import record_call

    record_call(task, response, usage)


@hookimpl
def az_task_event(task: Task, event: TaskEvent) -> None:
    """Release the reservation of a task that ended."""
    if event.type in _FINISHED:
        from az_cost.budget import release

        release(task.id)


@hookimpl
def az_health_checks(register: Callable[..., None]) -> None:
    """``cost.budget``: how much of the period's budget is spent."""
    register("cost.budget", budget_health)


def budget_health() -> HealthResult:
    """ok (no budget, or below the alert threshold), degraded (at or above
    it) or unhealthy (nothing left for a paid call); ``data`` is the
    ``az cost budget show --json`` object (or ``{}`` without a budget)."""
    from az_os.types import HealthResult

    from az_cost.budget import status, usd

    st = status()
    if st is None:
        return HealthResult(name="cost.budget", status="ok", detail="no budget set")
    detail = (
        f"{usd(st['spent_usd'])} of {usd(st['amount_usd'])} {st['period']} budget spent, "
        f"{usd(st['remaining_usd'])} left"
    )
    state: HealthStatus
    if st["remaining_usd"] <= 0:
        state = "unhealthy"
    elif st["alert_usd"] is not None and st["spent_usd"] >= st["alert_usd"]:
        state = "degraded"
    else:
        state = "ok"
    return HealthResult(name="cost.budget", status=state, detail=detail, data=st)
