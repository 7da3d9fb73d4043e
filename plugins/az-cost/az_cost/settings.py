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

from typing import TYPE_CHECKING, Any

from az_os.errors import ConfigError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from az_cost.periods import BudgetPeriod

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

SECTION = "cost"

DEFAULT_PERIOD: BudgetPeriod = "monthly"
DEFAULT_ALERT_PCT = 80.0


class CostSettings(BaseModel):
    """The validated ``[cost]`` section.

    ``budget_usd`` is a hard limit in USD on the money spent on model calls
    in one ``budget_period`` (0 allows only free models); ``None`` means no
    budget. ``alert_pct`` (0-100) is the share of the budget at which a
    warning is shown once per period; 0 turns the warning off.
    """

    model_config = ConfigDict(extra="forbid")

    budget_usd: float | None = Field(None, ge=0, description="USD per budget period")
    budget_period: BudgetPeriod = Field(DEFAULT_PERIOD, description="daily, weekly or monthly")
    alert_pct: float = Field(
        DEFAULT_ALERT_PCT, ge=0, le=100, description="warn at this % of the budget; 0 = never"
    )

    @property
    def alert_usd(self) -> float | None:
        """USD at which the alert fires, or None without a budget/alert."""
        if self.budget_usd is None or self.alert_pct <= 0:
            return None
        return self.budget_usd * self.alert_pct / 100.0


def _describe(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err.get("loc", ()))
    if err.get("type") == "extra_forbidden":
        return (
            f"{source}: unknown key '{SECTION}.{key}' (known: budget_usd, budget_period, alert_pct)"
        )
    msg = str(err.get("msg", "invalid value")).replace("Input should be", "expected")
    got = err.get("input")
    got_s = "" if isinstance(got, dict | list) or got is None else f", got {got!r}"
    return f"{source}: key '{SECTION}.{key}': {msg}{got_s}"


def validate_settings(data: dict[str, Any], source: str = "config") -> CostSettings:
    """Validate a ``[cost]`` dict. Raises :class:`~az_os.errors.ConfigError`
    naming ``source``, the key and what was expected."""
    try:
        return CostSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load_settings(config: AzConfig | None = None) -> CostSettings:
    """The ``[cost]`` section of ``config`` (default: the config in force).

    Raises :class:`~az_os.errors.ConfigError` when a value is invalid, e.g.
    ``budget_usd = -1`` or ``budget_period = "yearly"``.
    """
    if config is None:
        from az_os.config import load_config

        config = load_config()
    import os

    source = str(config.path)
    if any(k.startswith("AZ_COST__") for k in os.environ):
        source += " (or an AZ_COST__* environment variable)"
    return validate_settings(config.section(SECTION), source)
