"""USD from the kernel's price formula equals LiteLLM's own cost calculation.

For a LiteLLM-priced model the model plugin fills ModelInfo from LiteLLM's
bundled price map (``litellm.model_cost``, LITELLM_LOCAL_MODEL_COST_MAP=True)
and computes ``usage.cost_usd`` with :meth:`ModelInfo.cost`; az-cost records
that number. Here the same usage is priced by ``litellm.cost_per_token`` and
``litellm.completion_cost`` (on a LiteLLM ModelResponse) and must agree.

This includes tiered prices (every token of a call above 200k prompt tokens
at the ``*_above_200k_tokens`` price) and Anthropic cache writes
(``cache_creation_input_token_cost``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

from az_os.types import ModelInfo  # noqa: E402

MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "anthropic/claude-sonnet-4-5",
    "gemini/gemini-2.5-flash",
    "deepseek/deepseek-chat",
    "mistral/mistral-large-latest",
]

#: (prompt tokens, completion tokens, cached prompt tokens)
USAGES = [(1_000, 500, 0), (12_000, 800, 8_000), (150_000, 4_000, 100_000), (37, 1, 37)]


def info_from_map(model: str) -> ModelInfo:
    """ModelInfo as a LiteLLM model plugin builds it from the price map."""
    prices: dict[str, Any] = dict(litellm.get_model_info(model))
    return ModelInfo(
        id=model,
        provider=model.split("/", 1)[0] if "/" in model else "openai",
        input_cost_per_token=prices["input_cost_per_token"],
        output_cost_per_token=prices["output_cost_per_token"],
        cache_read_cost_per_token=prices.get("cache_read_input_token_cost"),
        cache_write_cost_per_token=prices.get("cache_creation_input_token_cost"),
        tier_threshold_tokens=200_000
        if "input_cost_per_token_above_200k_tokens" in prices
        else None,
        input_cost_per_token_above_tier=prices.get("input_cost_per_token_above_200k_tokens"),
        output_cost_per_token_above_tier=prices.get("output_cost_per_token_above_200k_tokens"),
        cache_read_cost_per_token_above_tier=prices.get(
            "cache_read_input_token_cost_above_200k_tokens"
        ),
        price_source="litellm model_prices_and_context_window.json",
    )


def litellm_costs(
    model: str, prompt: int, completion: int, cached: int, cache_write: int = 0
) -> tuple[float, float]:
    """(cost_per_token sum, completion_cost) for the same usage."""
    p, c = litellm.cost_per_token(
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cache_read_input_tokens=cached,
        cache_creation_input_tokens=cache_write,
    )
    usage = litellm.Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details={"cached_tokens": cached} if cached else None,
        **(
            {"cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cached}
            if cache_write
            else {}
        ),
    )
    response = litellm.ModelResponse(model=model, usage=usage)
    return p + c, litellm.completion_cost(completion_response=response, model=model)


def test_the_models_checked_have_cache_read_prices() -> None:
    cache_priced = [
        m for m in MODELS if litellm.get_model_info(m).get("cache_read_input_token_cost")
    ]
    assert len(cache_priced) >= 4


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("prompt", "completion", "cached"), USAGES)
def test_kernel_cost_equals_litellm(model: str, prompt: int, completion: int, cached: int) -> None:
    ours = info_from_map(model).cost(prompt, completion, cached)
    per_token, completion_cost = litellm_costs(model, prompt, completion, cached)
    assert ours == pytest.approx(per_token, rel=1e-9, abs=1e-15)
    assert ours == pytest.approx(completion_cost, rel=1e-9, abs=1e-15)
    if cached:
        assert ours < info_from_map(model).cost(prompt, completion)  # the cache discount counts


def test_tiered_prices_above_200k_prompt_tokens() -> None:
    model = "gemini/gemini-2.5-pro"
    ours = info_from_map(model).cost(250_000, 1_000, 0)
    per_token, completion_cost = litellm_costs(model, 250_000, 1_000, 0)
    assert per_token == pytest.approx(completion_cost)
    assert ours == pytest.approx(per_token)


def test_anthropic_cache_write_tokens() -> None:
    model = "anthropic/claude-sonnet-4-5"
    # 12,000 prompt tokens: 4,000 written to the cache, 2,000 read from it.
    _, completion_cost = litellm_costs(model, 12_000, 800, 2_000, cache_write=4_000)
    ours = info_from_map(model).cost(12_000, 800, 2_000, 4_000)
    assert ours == pytest.approx(completion_cost)
