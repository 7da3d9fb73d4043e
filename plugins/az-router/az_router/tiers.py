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

Quality priors per tier (the ``quality`` term of the routing score, in
[0, 1]) are in :data:`QUALITY_PRIORS`; they are the rounded mean of the
tiers' example models' published MMLU-Pro / GPQA / SWE-bench Verified
scores, scaled so the best tier is near 0.9. ``[router.quality]`` overrides
them per tier name or per model id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import ModelInfo

TIERS: tuple[str, ...] = ("free", "cheap", "mid", "premium")

#: Upper edges of the paid bands, USD per 1M blended tokens.
DEFAULT_BANDS: dict[str, float] = {"cheap_max": 0.50, "mid_max": 5.0}

#: Prior quality per tier, in [0, 1].
QUALITY_PRIORS: dict[str, float] = {"free": 0.30, "cheap": 0.70, "mid": 0.80, "premium": 0.92}

#: Prior success rate per (tier, complexity class), in [0, 1]: what the
#: router assumes before the task history says otherwise. Same sources as
#: benchmarks/data/routing_workload.md (the per-tier pass rates there).
SUCCESS_PRIORS: dict[str, dict[str, float]] = {
    "free": {"simple": 0.45, "code": 0.05, "reasoning": 0.03, "long": 0.0},
    "cheap": {"simple": 0.92, "code": 0.78, "reasoning": 0.62, "long": 0.45},
    "mid": {"simple": 0.95, "code": 0.86, "reasoning": 0.70, "long": 0.60},
    "premium": {"simple": 0.97, "code": 0.92, "reasoning": 0.83, "long": 0.75},
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
