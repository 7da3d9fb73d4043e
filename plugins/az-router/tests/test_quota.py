"""Free-plan hosted models: their own priors, and cool-downs after a spent quota."""

from __future__ import annotations

import asyncio

import pytest
from az_router.cooldown import Cooldowns
from az_router.engine import RoutingEngine
from az_router.rules import RuleError
from az_router.tiers import model_key, success_prior
from conftest import ModelsPlugin, candidates, priced, request, task
from test_routing import needs_sqlite

CODE = "fix the failing test in tests/test_io.py"


@pytest.fixture
def with_free_gemini(models):
    """The tiers plus Gemini 2.5 Flash on the Gemini API's free plan (priced 0)."""
    return {**models, "gemini": priced("gemini/gemini-2.5-flash", 0, 0, ctx=1_048_576)}


def test_a_free_hosted_model_is_judged_by_its_own_priors_not_the_135m_models(
    az_home, with_free_gemini
):
    d = RoutingEngine(history=None).decide(task(CODE), request(CODE), candidates(with_free_gemini))
    assert d.tier == "free" and d.model_id == "gemini/gemini-2.5-flash"
    gemini = next(c for c in d.candidates if c.id == "gemini/gemini-2.5-flash")
    local = next(c for c in d.candidates if c.id == "local/smollm2-135m-instruct")
    assert gemini.prior == pytest.approx(0.61) and local.prior == pytest.approx(0.02)
    assert gemini.score > local.score and not d.skipped


def test_an_unknown_free_model_falls_back_to_the_tier_priors_or_config(az_home, models):
    mystery = {**models, "x": priced("openrouter/acme/mystery-70b:free", 0, 0)}
    d = RoutingEngine(history=None).decide(task(CODE), request(CODE), candidates(mystery))
    assert d.tier == "cheap"  # the free tier's priors are the 135M model's
    trusted = RoutingEngine(
        history=None, priors={"openrouter/acme/mystery-70b:free": {"code": 0.7}}
    ).decide(task(CODE), request(CODE), candidates(mystery))
    assert trusted.model_id == "openrouter/acme/mystery-70b:free"


def test_model_keys_and_prior_lookup():
    assert model_key("openrouter/google/gemini-2.5-flash:free") == "gemini-2.5-flash"
    assert model_key("anthropic/claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert success_prior("gemini/gemini-2.5-flash", "free", "reasoning") == pytest.approx(0.81)
    assert success_prior("example/unknown", "premium", "code") == pytest.approx(0.89)


def test_bad_priors_in_config_are_rejected_with_the_key(az_home):
    from az_os.config import load_config

    (az_home / "config.toml").write_text(
        '[router.priors."gemini/gemini-2.5-flash"]\ncode = 1.5\n', encoding="utf-8"
    )
    with pytest.raises(RuleError, match=r"router.priors.gemini/gemini-2.5-flash.code"):
        RoutingEngine.from_config(load_config())


def test_a_rate_limited_model_is_avoided_until_its_wait_is_over(az_home, with_free_gemini):
    now = [1_000_000.0]
    engine = RoutingEngine(history=None, cooldowns=Cooldowns(clock=lambda: now[0]))
    cands = candidates(with_free_gemini)
    failed = [{"model": "gemini/gemini-2.5-flash", "error": "429", "retry_after": "3600"}]
    # the engine reports the failure while escalating the task that met it
    d = engine.decide(task(CODE), request(CODE, failed_models=failed, escalate=True), cands)
    assert d.model_id != "gemini/gemini-2.5-flash"
    # a new task an hour minus a second later still stays off it ...
    now[0] += 3599
    d = engine.decide(task(CODE), request(CODE), cands)
    assert d.tier == "cheap"
    gemini = next(c for c in d.candidates if c.id == "gemini/gemini-2.5-flash")
    assert "cooling down for 1 s more" in gemini.excluded
    # ... and goes back to it once the wait is over
    now[0] += 2
    assert engine.decide(task(CODE), request(CODE), cands).model_id == "gemini/gemini-2.5-flash"


def test_a_cooling_model_is_still_used_when_nothing_else_is_eligible(az_home, with_free_gemini):
    cooldowns = Cooldowns()
    cooldowns.note("gemini/gemini-2.5-flash", 600)
    engine = RoutingEngine(history=None, cooldowns=cooldowns)
    d = engine.decide(task(CODE), request(CODE), [with_free_gemini["gemini"]])
    assert d.model_id == "gemini/gemini-2.5-flash"


def test_cooldowns_outlive_the_process_in_the_az_home(az_home, with_free_gemini):
    from az_os.config import load_config

    first = RoutingEngine.from_config(load_config())
    failed = [{"model": "gemini/gemini-2.5-flash", "error": "429", "retry_after": "7200"}]
    first.decide(task(CODE), request(CODE, failed_models=failed), candidates(with_free_gemini))
    assert (az_home / "router-cooldowns.json").exists()
    later = RoutingEngine.from_config(load_config())  # as the next `az task run` builds it
    d = later.decide(task(CODE), request(CODE), candidates(with_free_gemini))
    assert d.tier == "cheap"


GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
DAILY_QUOTA_429 = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing "
        "details.\nPlease retry in 47.2s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "47s"},
        ],
    }
}


@needs_sqlite
def test_a_spent_free_quota_escalates_at_once_and_later_tasks_skip_the_model(az_home, monkeypatch):
    """The kernel's engine, az-litellm's model over HTTP (respx) and the
    router's hook together: Gemini's free plan answers 429 for the day."""
    pytest.importorskip("az_os.engine")
    pytest.importorskip("az_litellm")
    respx = pytest.importorskip("respx")
    import httpx
    from az_litellm.registry import custom_model
    from az_litellm.settings import LiteLLMSettings
    from az_os.config import CustomModel
    from az_os.engine import ExecutionEngine
    from az_os.plugins import get_host
    from az_os.types import Task, TaskStatus

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("DISABLE_AIOHTTP_TRANSPORT", "True")
    # a key only this model reads, so the catalogue's Gemini models stay unusable
    monkeypatch.setenv("AZ_TEST_GEMINI_KEY", "gm-test")
    settings = LiteLLMSettings(retries=4, retry_base_s=0.01, retry_cap_s=60.0)
    gemini = custom_model(
        CustomModel(
            id="gemini/gemini-2.5-flash",
            api_key_env="AZ_TEST_GEMINI_KEY",
            input_cost_per_token=0.0,
            output_cost_per_token=0.0,
        ),
        settings,
    )
    deepseek = priced("deepseek/deepseek-chat", 0.28, 0.42, ctx=131_072)
    get_host().register(ModelsPlugin([gemini, deepseek]), name="test-models")

    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(url__startswith=GEMINI_URL).mock(
            return_value=httpx.Response(429, json=DAILY_QUOTA_429)
        )
        first = asyncio.run(ExecutionEngine().execute(Task(description=CODE, approval="auto")))
        second = asyncio.run(ExecutionEngine().execute(Task(description=CODE, approval="auto")))

    assert first.status == TaskStatus.COMPLETED, first.error
    assert first.model == second.model == "deepseek/deepseek-chat"
    assert route.call_count == 1  # no retries, and the second task never asked Gemini
    assert deepseek.calls == 2


def test_the_default_local_pack_has_its_own_measured_priors(az_home, models):
    qwen = "local/qwen2.5-coder-1.5b-instruct"
    smol = "local/smollm2-135m-instruct"
    assert model_key(qwen) == "qwen2.5-coder-1.5b-instruct"
    for cls in ("simple", "code", "reasoning"):
        assert success_prior(qwen, "free", cls) > success_prior(smol, "free", cls)
    assert success_prior(qwen, "free", "long") == 0.0  # 8k context
    # a simple chore goes to the 1.5B pack first, where the 135M model is skipped
    text = "what port is set in settings.ini?"
    with_pack = {**models, "free": priced(qwen, 0, 0, ctx=8192, local=True)}
    d = RoutingEngine(history=None).decide(task(text), request(text), candidates(with_pack))
    assert d.model_id == qwen and d.tier == "free"
    d = RoutingEngine(history=None).decide(task(text), request(text), candidates(models))
    assert d.model_id != smol
