"""Price tiers: free, cheap, mid, premium.

A model's tier comes from its *blended price*, in USD per 1M tokens::

    blended = (0.75 * input_cost_per_token + 0.25 * output_cost_per_token) * 1e6

The 3:1 input:output weighting is the one Artificial Analysis uses for its
"blended price" column; agent calls are prompt-heavy (tool schemas, the
conversation so far), so input dominates.

Default bands (USD per 1M blended tokens; config ``[router.tiers]``
``cheap_max`` / ``mid_max`` move the edges)::

    free     blended == 0 (local models, free endpoints)
    cheap    0 < blended < 0.50   e.g. gemini-2.0-flash 0.175, gpt-4o-mini 0.26,
                                   deepseek-chat 0.32-0.48
    mid      0.50 <= blended < 5   e.g. gpt-4.1-mini 0.70, claude-haiku-4-5 2.0,
                                   gpt-4.1 3.5, gpt-4o 4.375
    premium  blended >= 5          e.g. claude-sonnet-4-5 6.0, o1 26.25,
                                   claude-opus 30

Success-rate priors per tier and class are in :data:`SUCCESS_PRIORS`;
quality priors per tier (the ``quality`` term of the routing score, in
[0, 1]) in :data:`QUALITY_PRIORS`, the mean of the tier's success priors.
``[router.quality]`` overrides quality per tier name or per model id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import ModelInfo

TIERS: tuple[str, ...] = ("free", "cheap", "mid", "premium")

#: Upper edges of the paid bands, USD per 1M blended tokens.
DEFAULT_BANDS: dict[str, float] = {"cheap_max": 0.50, "mid_max": 5.0}

#: Prior success rate per (tier, complexity class), in [0, 1]: what the
#: router assumes before the task history says otherwise. They are the
#: per-tier pass rates of benchmarks/data/routing_workload.md, derived there
#: from public benchmark figures of one example model per tier
#: (free: SmolLM2-135M-Instruct, cheap: DeepSeek-V3.2-Exp, mid: Claude
#: Haiku 4.5, premium: Claude Sonnet 4.5): simple ~ instruction following
#: (IFEval), code ~ SWE-bench Verified + 0.12 (single-file tasks with a
#: test are easier than repository issues), reasoning ~ GPQA Diamond,
#: long ~ SWE-bench Verified.
SUCCESS_PRIORS: dict[str, dict[str, float]] = {
    "free": {"simple": 0.30, "code": 0.02, "reasoning": 0.02, "long": 0.0},
    "cheap": {"simple": 0.95, "code": 0.80, "reasoning": 0.80, "long": 0.68},
    "mid": {"simple": 0.96, "code": 0.85, "reasoning": 0.73, "long": 0.73},
    "premium": {"simple": 0.97, "code": 0.89, "reasoning": 0.83, "long": 0.77},
}

#: Prior quality per tier, in [0, 1]: the mean of the tier's
#: :data:`SUCCESS_PRIORS` over the four classes, rounded to 0.01.
QUALITY_PRIORS: dict[str, float] = {
    tier: round(sum(rates.values()) / len(rates), 2) for tier, rates in SUCCESS_PRIORS.items()
}


def blended_price(info: ModelInfo) -> float:
    """USD per 1M tokens at a 3:1 input:output mix (0 for local models)."""
    if info.local:
        return 0.0
    return (0.75 * info.input_cost_per_token + 0.25 * info.output_cost_per_token) * 1e6


def tier_of(info: ModelInfo, bands: dict[str, float] | None = None) -> str:
    """The tier name of a model from its blended price and ``bands``."""
    bands = bands or DEFAULT_BANDS
    price = blended_price(info)
    if price <= 0.0:
        return "free"
    if price < bands["cheap_max"]:
        return "cheap"
    if price < bands["mid_max"]:
        return "mid"
    return "premium"


def tier_index(name: str) -> int:
    """Position of a tier in :data:`TIERS` (0 = free). ValueError if unknown."""
    return TIERS.index(name)


def parse_bands(section: dict[str, Any]) -> dict[str, float]:
    """Bands from ``[router.tiers]``; raises ValueError naming a bad key."""
    bands = dict(DEFAULT_BANDS)
    for key, value in (section or {}).items():
        if key not in DEFAULT_BANDS:
            raise ValueError(f"router.tiers: unknown key '{key}' (expected cheap_max, mid_max)")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"router.tiers.{key}: expected a positive number (USD per 1M tokens)")
        bands[key] = float(value)
    if bands["cheap_max"] >= bands["mid_max"]:
        raise ValueError("router.tiers: cheap_max must be below mid_max")
    return bands
