"""Rules: order, fallback, targets, validation, run-time replacement, config."""

from __future__ import annotations

import asyncio

import pytest
from az_router.engine import RoutingEngine
from az_router.rules import RuleError, compile_condition, parse_rules
from conftest import candidates, request, task


def decide(engine, text, models, priority="medium", **kw):
    return engine.decide(task(text, priority), request(text, **kw), candidates(models))


# -- the default rules, in order ------------------------------------------------
def test_default_rules_route_each_class_to_its_tier(az_home, models):
    engine = RoutingEngine(history=None)
    cases = [
        # the simple rule starts at free, but the 135M model's priors (IFEval
        # 29.9) are under min_success_rate: the cheapest capable tier is cheap
        ("what time is it in UTC?", "medium", "simple", "cheap", None),
        ("fix the failing test in tests/test_io.py", "medium", "code", "cheap", None),
        (
            "prove that the sum of the first n odd numbers is n squared",
            "high",
            "reasoning",
            "premium",
            "anthropic/claude-sonnet-4-5",
        ),
        (
            "prove that the sum of the first n odd numbers is n squared",
            "medium",
            "fallback",
            "cheap",
            None,
        ),
        (
            "rename load_cfg to load_config across the codebase and fix all call sites",
            "high",
            "long",
            "mid",
            "anthropic/claude-haiku-4-5",
        ),
    ]
    for text, prio, rule, tier, model in cases:
        d = decide(engine, text, models, prio)
        assert d.rule is not None and d.rule.name == rule, (text, d.rules_checked)
        assert d.tier == tier, text
        if model:
            assert d.model_id == model


def test_urgent_rule_comes_first_and_picks_a_model_near_the_best(az_home, models):
    engine = RoutingEngine(history=None)
    # a simple urgent task needs no premium model: the cheap tier's priors
    # (0.95) are within 5 points of premium's (0.97)
    simple = decide(engine, "what time is it?", models, "urgent")
    assert simple.rule.name == "urgent"
    assert [r["name"] for r in simple.rules_checked] == ["urgent"]
    assert simple.tier == "cheap"
    assert any("within 5 points of the best" in s for s in simple.skipped)
    # urgent code: cheap (0.80) is 9 points under premium (0.89), mid (0.85) is not
    code = decide(engine, "fix the failing test in tests/test_io.py", models, "urgent")
    assert code.model_id == "anthropic/claude-haiku-4-5"
    assert any(s.startswith("no cheap model is expected") for s in code.skipped)
    # with no mid model, nothing near the best is cheaper than premium
    code = engine.decide(
        task("fix the failing test in tests/test_io.py", "urgent"),
        request("fix the failing test in tests/test_io.py"),
        candidates(models, "free", "cheap", "premium"),
    )
    assert code.model_id == "anthropic/claude-sonnet-4-5"


def test_within_leaves_out_the_models_of_a_tier_that_are_not_near_the_best(az_home, models):
    from conftest import priced

    # one free tier with two models: the 135M model and a free-plan model
    # whose priors are given in [router.priors]
    free_plan = priced("openrouter/some/free-model:free", 0, 0, ctx=131_072)
    engine = RoutingEngine(
        [{"condition": "fallback", "tier": "free", "within": 0.05}],
        history=None,
        priors={"openrouter/some/free-model:free": {"simple": 0.96}},
        quality={"local/smollm2-135m-instruct": 1.0},  # would win the score
    )
    d = engine.decide(
        task("what time is it?"),
        request("what time is it?", tools=False),
        [*candidates(models, "free", "premium"), free_plan],
    )
    assert d.model_id == "openrouter/some/free-model:free"


@pytest.mark.parametrize(
    ("within", "message"),
    [
        (-0.1, "'within' must be in [0, 1]"),
        (5, "'within' must be in [0, 1]"),
        ("5%", "'within' must be a number"),
        (True, "'within' must be a number"),
    ],
)
def test_within_must_be_a_fraction(within, message):
    with pytest.raises(RuleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_rules([{"name": "u", "condition": "fallback", "tier": "free", "within": within}])


def test_within_needs_a_tier_target():
    with pytest.raises(RuleError, match="rule 1 \\('u'\\): 'within' needs a 'tier' target"):
        parse_rules([{"name": "u", "condition": "fallback", "model": "x/y", "within": 0.1}])


def test_first_matching_rule_wins(az_home, models):
    engine = RoutingEngine(
        [
            {"condition": "tokens < 500", "tier": "mid", "reason": "small prompts"},
            {"condition": "complexity == 'code'", "tier": "premium", "reason": "code"},
            {"condition": "fallback", "tier": "cheap", "reason": "rest"},
        ],
        history=None,
    )
    small_code = decide(engine, "fix the bug in src/app.py", models)
    assert small_code.rule.reason == "small prompts" and small_code.tier == "mid"
    big_code = decide(engine, "fix the bug in src/app.py", models, context_tokens=3000)
    assert big_code.rule.reason == "code" and big_code.tier == "premium"
    chat = decide(engine, "hello there", models, context_tokens=3000)
    assert chat.rule.reason == "rest" and chat.tier == "cheap"


def test_missing_fallback_gets_the_cheapest_capable_tier(az_home, models):
    engine = RoutingEngine([{"condition": "priority == 'high'", "tier": "premium"}], history=None)
    assert engine.rules[-1].name == "implicit-fallback"
    d = decide(engine, "fix the bug in src/app.py", models)
    assert d.rule.name == "implicit-fallback"
    assert d.start_tier == "free" and d.tier == "cheap"  # the 135M model cannot code
    assert d.skipped and "local/smollm2-135m-instruct 2%" in d.skipped[0]


def test_model_target_by_alias_suffix_or_provider(az_home, models):
    for target in ("claude-haiku-4-5", "anthropic/claude-haiku-4-5"):
        engine = RoutingEngine([{"condition": "fallback", "model": target}], history=None)
        assert decide(engine, "hello", models).model_id == "anthropic/claude-haiku-4-5"
    engine = RoutingEngine([{"condition": "fallback", "provider": "deepseek"}], history=None)
    assert decide(engine, "hello", models).model_id == "deepseek/deepseek-chat"


def test_model_rule_skipped_when_model_is_not_eligible(az_home, models):
    engine = RoutingEngine(
        [
            {
                "name": "local-first",
                "condition": "tokens < 100000",
                "model": "local/smollm2-135m-instruct",
            },
            {"condition": "fallback", "tier": "mid"},
        ],
        history=None,
    )
    # 20k tokens of context do not fit the local model's 8k window
    d = decide(engine, "summarize", models, context_tokens=20_000)
    assert d.model_id == "anthropic/claude-haiku-4-5"
    assert "not an eligible candidate" in d.rules_checked[0]["note"]


# -- validation ---------------------------------------------------------------
@pytest.mark.parametrize(
    "rule, reason",
    [
        ({"condition": "tokens <", "tier": "cheap"}, "syntax error"),
        ({"condition": "size < 5", "tier": "cheap"}, "unknown name 'size'"),
        ({"condition": "complexity == 'cod'", "tier": "cheap"}, "unknown complexity 'cod'"),
        ({"condition": "priority in ('high', 'critical')", "tier": "cheap"}, "unknown priority"),
        ({"condition": "__import__('os').system('true')", "tier": "cheap"}, "not allowed"),
        ({"condition": "tokens.bit_length() > 3", "tier": "cheap"}, "not allowed"),
        ({"condition": "tokens < 'many'", "tier": "cheap"}, "type error"),
        ({"condition": "tokens < 5", "tier": "gold"}, "unknown tier 'gold'"),
        ({"condition": "tokens < 5"}, "exactly one of"),
        ({"condition": "tokens < 5", "tier": "cheap", "model": "x"}, "exactly one of"),
        ({"condition": "tokens < 5", "tier": "cheap", "weight": 2}, "unknown key(s) weight"),
        ({"tier": "cheap"}, "'condition' is missing"),
        ("tokens < 5 -> cheap", "expected a table"),
    ],
)
def test_invalid_rules_rejected_with_rule_and_reason(rule, reason):
    with pytest.raises(RuleError) as err:
        parse_rules([{"condition": "priority == 'high'", "tier": "premium"}, rule])
    msg = str(err.value)
    assert msg.startswith("rule 2")
    assert reason in msg
    assert repr(rule) in msg  # the offending rule itself is shown


def test_rule_after_fallback_is_unreachable():
    with pytest.raises(RuleError, match=r"rule 2 \('late'\): unreachable"):
        parse_rules(
            [
                {"condition": "fallback", "tier": "cheap"},
                {"name": "late", "condition": "tokens > 5", "tier": "mid"},
            ]
        )


def test_condition_language():
    pred = compile_condition(
        "(tokens + 100 >= 600 and complexity in ['code', 'long']) or not tools"
    )
    env = {"tokens": 500, "complexity": "code", "tools": True}
    assert pred(env)
    assert not pred({**env, "tokens": 499})
    assert pred({**env, "tokens": 1, "tools": False})
    assert compile_condition("'tools' in capabilities")({"capabilities": frozenset({"tools"})})
    assert compile_condition("turn >= max_turns - 1")({"turn": 4, "max_turns": 5})


def test_update_routing_rules_replaces_rules_at_run_time(az_home, models):
    engine = RoutingEngine(history=None)
    assert decide(engine, "what time is it?", models).tier == "cheap"
    asyncio.run(
        engine.update_routing_rules(
            [{"condition": "fallback", "tier": "premium", "reason": "quality first"}]
        )
    )
    d = decide(engine, "what time is it?", models)
    assert d.tier == "premium" and d.rule.reason == "quality first"


def test_invalid_update_keeps_the_rules_in_force(az_home, models):
    engine = RoutingEngine([{"condition": "fallback", "tier": "mid"}], history=None)
    with pytest.raises(RuleError, match="unknown tier 'platinum'"):
        asyncio.run(engine.update_routing_rules([{"condition": "fallback", "tier": "platinum"}]))
    assert decide(engine, "hello", models).tier == "mid"


def test_rules_from_config_file(az_home, models):
    (az_home / "config.toml").write_text(
        "[router]\n"
        "[[router.rules]]\n"
        'name = "code-to-mid"\n'
        "condition = \"complexity == 'code'\"\n"
        'tier = "mid"\n'
        'reason = "our code needs care"\n',
        encoding="utf-8",
    )
    from az_router.plugin import get_engine

    engine = get_engine()
    assert [r.name for r in engine.rules] == ["code-to-mid", "implicit-fallback"]
    assert decide(engine, "fix the bug in src/app.py", models).tier == "mid"


def test_invalid_config_rule_is_a_config_error(az_home):
    from az_os.errors import ConfigError
    from az_router.plugin import get_engine

    (az_home / "config.toml").write_text(
        '[[router.rules]]\ncondition = "complexity = \'code\'"\ntier = "mid"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"router.rules in .*config.toml: rule 1: syntax error"):
        get_engine()
