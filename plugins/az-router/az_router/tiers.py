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

A tier is a price band, not a capability: a hosted model on a provider's
free plan (priced 0 with ``[[models.custom]]``) is in the free tier with
the embedded 135M model. So well-known models have their own priors
(:data:`MODEL_PRIORS`, looked up by :func:`model_key`), and
:func:`success_prior` uses them before the tier's; ``[router.priors]``
gives priors for any other model.
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

#: Prior success rate per (model, class) for well-known models, keyed by
#: :func:`model_key`. Derived as for the tiers (benchmarks/data/
#: routing_workload.md): simple ~ instruction following, code ~ SWE-bench
#: Verified + 0.12, reasoning ~ GPQA Diamond, long ~ SWE-bench Verified.
#: Figures are the vendors' own; "assumption" marks the ones no benchmark
#: gives.
#:
#: * smollm2-135m-instruct: IFEval 29.9, GSM8K 1.4 (Hugging Face model
#:   card); code: assumption (a 135M model does not write working code);
#:   long: its 8k context cannot hold these tasks.
#: * deepseek-chat (DeepSeek-V3.2-Exp): SWE-bench Verified 67.8, GPQA
#:   Diamond 79.9 (model card, huggingface.co/deepseek-ai/DeepSeek-V3.2-Exp);
#:   simple: assumption.
#: * claude-haiku-4-5: SWE-bench Verified 73.3 (Anthropic launch post);
#:   GPQA Diamond ~73: assumption (the system card gives no score, the launch
#:   table's figure could not be re-checked); simple: assumption.
#: * claude-sonnet-4-5: SWE-bench Verified 77.2, GPQA Diamond 83.4
#:   (Anthropic launch post); simple: assumption.
#: * gemini-2.5-flash: SWE-bench Verified 48.9 (Google's figure for the
#:   stable model, quoted when the 09-2025 preview reached 54); GPQA Diamond
#:   80.8 (Gemini 2.5 Flash model card, 09-2025 preview, the best figure
#:   found for this model family); simple: assumption, as deepseek-chat.
#: * gemini-2.5-pro: SWE-bench Verified 67.2, GPQA Diamond 86.4 (Gemini 2.5
#:   technical report, arXiv 2507.06261); simple: assumption.
#: * deepseek-chat-v3.1 (DeepSeek-V3.1, e.g. OpenRouter's free variant
#:   ``openrouter/deepseek/deepseek-chat-v3.1:free``): SWE-bench Verified 66.0
#:   (agent mode) and GPQA Diamond 74.9, both non-thinking, the mode in which
#:   V3.1 calls tools (model card, huggingface.co/deepseek-ai/DeepSeek-V3.1);
#:   simple: assumption, as deepseek-chat. Not deepseek-chat's weights
#:   (DeepSeek's API serves V3.2-Exp under that name), hence its own row.
#: * deepseek-v3.2-exp: the weights behind deepseek-chat (see above), so its
#:   priors, under whatever provider or ``:free`` variant serves them.
#: * qwen2.5-coder-1.5b-instruct (az-local-qwen-coder's pack, the default
#:   local model): measured through ``az task run``, not from a model card.
#:   simple: 21 of 22 file, shell and git chores right, in each of two runs
#:   (the 25 tasks of examples/tasks, the latest run in
#:   benchmarks/data/agent_tasks_runs.json; the one failure, a line count
#:   answered 0, was silent: a completed task with a wrong answer), as
#:   Laplace's (k + 1) / (n + 2) = 0.92 over the recorded run (runs of the
#:   same code vary by about two tasks); code: 2 of 3 in each run, but these
#:   are one-line fixes, too few and too small to overturn the assumption
#:   0.35, under the router's 0.4 bar, so code starts on a paid model until
#:   the task history says otherwise; reasoning: assumption, 0.3;
#:   long: its 8k context cannot hold these tasks.
MODEL_PRIORS: dict[str, dict[str, float]] = {
    "smollm2-135m-instruct": dict(SUCCESS_PRIORS["free"]),
    "deepseek-chat": dict(SUCCESS_PRIORS["cheap"]),
    "claude-haiku-4-5": dict(SUCCESS_PRIORS["mid"]),
    "claude-sonnet-4-5": dict(SUCCESS_PRIORS["premium"]),
    "gemini-2.5-flash": {"simple": 0.95, "code": 0.61, "reasoning": 0.81, "long": 0.49},
    "gemini-2.5-pro": {"simple": 0.96, "code": 0.79, "reasoning": 0.86, "long": 0.67},
    "deepseek-chat-v3.1": {"simple": 0.95, "code": 0.78, "reasoning": 0.75, "long": 0.66},
    "deepseek-v3.2-exp": dict(SUCCESS_PRIORS["cheap"]),
    "qwen2.5-coder-1.5b-instruct": {"simple": 0.92, "code": 0.35, "reasoning": 0.3, "long": 0.0},
}


def model_key(model_id: str) -> str:
    """The :data:`MODEL_PRIORS` key of a model id: its last path segment,
    lower-cased, without a ``:free``-style variant suffix or a ``-YYYYMMDD``
    snapshot date (``openrouter/google/gemini-2.5-flash:free`` and
    ``anthropic/claude-haiku-4-5-20251001`` give ``gemini-2.5-flash`` and
    ``claude-haiku-4-5``)."""
    name = model_id.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    head, _, tail = name.rpartition("-")
    return head if head and len(tail) == 8 and tail.isdigit() else name


def success_prior(
    model_id: str,
    tier: str,
    cls: str,
    overrides: dict[str, dict[str, float]] | None = None,
) -> float:
    """Prior success rate in [0, 1] of ``model_id`` (of ``tier``) on class
    ``cls``: ``overrides`` (``[router.priors]``, by model id) first, then
    :data:`MODEL_PRIORS`, then the tier's :data:`SUCCESS_PRIORS`."""
    for table in (overrides or {}).get(model_id), MODEL_PRIORS.get(model_key(model_id)):
        if table and cls in table:
            return table[cls]
    return SUCCESS_PRIORS[tier][cls]


def quality_prior(
    model_id: str, tier: str, overrides: dict[str, dict[str, float]] | None = None
) -> float:
    """Prior quality in [0, 1]: the mean of :func:`success_prior` over the
    classes, rounded to 0.01 (the tier's :data:`QUALITY_PRIORS` for a model
    with no priors of its own)."""
    rates = [success_prior(model_id, tier, cls, overrides) for cls in SUCCESS_PRIORS[tier]]
    return round(sum(rates) / len(rates), 2)


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
