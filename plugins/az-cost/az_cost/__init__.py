"""az-cost: cost tracking and hard budgets for az.

Every model call becomes a ``cost_tracking`` row (task, model, tokens, USD);
``az cost show`` sums them by period; a budget (``az cost budget set``) and
per-task caps (``az task run --max-cost``) are enforced before each call.

The Python API is :class:`az_cost.tracker.CostTracker` (the design brief's
``track``, ``get_total_cost``, ``get_cost_by_task``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from az_cost.tracker import CostTracker

__all__ = ["CostTracker", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "CostTracker":
        from az_cost.tracker import CostTracker

        return CostTracker
    raise AttributeError(name)
