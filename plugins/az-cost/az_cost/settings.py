"""The ``[cost]`` config section: the budget.

In ``config.toml``::

    [cost]
    budget_usd = 100.0         # USD per period; absent = no budget
    budget_period = "monthly"  # daily | weekly | monthly
    alert_pct = 80             # warn once per period at this % of the budget (0 = never)

``AZ_COST__BUDGET_USD=5`` and friends override the file, as for every
section. ``az cost budget set/clear`` write these keys through
:func:`az_os.config.set_value`/:func:`az_os.config.unset_value`, keeping the
file's comments.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

from az_os.config import parse_section
from az_os.types import Record
from msgspec import Meta

from az_cost.periods import BudgetPeriod

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

SECTION = "cost"

DEFAULT_PERIOD: BudgetPeriod = "monthly"
DEFAULT_ALERT_PCT = 80.0


class CostSettings(Record, kw_only=True):
    """The validated ``[cost]`` section.

    ``budget_usd`` is a hard limit in USD on the money spent on model calls
    in one ``budget_period`` (0 allows only free models); ``None`` means no
    budget. ``alert_pct`` (0-100) is the share of the budget at which a
    warning is shown once per period; 0 turns the warning off.
    """

    #: USD per budget period
    budget_usd: Annotated[float, Meta(ge=0)] | None = None
    #: daily, weekly or monthly
    budget_period: BudgetPeriod = DEFAULT_PERIOD
    #: warn at this % of the budget; 0 = never
    alert_pct: Annotated[float, Meta(ge=0, le=100)] = DEFAULT_ALERT_PCT

    @property
    def alert_usd(self) -> float | None:
        """USD at which the alert fires, or None without a budget/alert."""
        if self.budget_usd is None or self.alert_pct <= 0:
            return None
        return self.budget_usd * self.alert_pct / 100.0


def validate_settings(data: dict[str, Any], source: str = "config") -> CostSettings:
    """Validate a ``[cost]`` dict. Raises :class:`~az_os.errors.ConfigError`
    naming ``source``, the key and what was expected."""
    return parse_section(CostSettings, SECTION, data, source)


def load_settings(config: AzConfig | None = None) -> CostSettings:
    """The ``[cost]`` section of ``config`` (default: the config in force).

    Raises :class:`~az_os.errors.ConfigError` when a value is invalid, e.g.
    ``budget_usd = -1`` or ``budget_period = "yearly"``.
    """
    if config is None:
        from az_os.config import load_config

        config = load_config()
    source = str(config.path)
    if any(k.startswith("AZ_COST__") for k in os.environ):
        source += " (or an AZ_COST__* environment variable)"
    return validate_settings(config.section(SECTION), source)
