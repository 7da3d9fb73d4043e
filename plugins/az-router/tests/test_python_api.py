"""The brief's RoutingEngine methods: get_optimal_provider and
execute_with_routing are the router's decide plus the kernel's call path
(hooks for budgets and cost records), with the rules of this instance."""

from __future__ import annotations

import asyncio

import pytest
from az_os.errors import BudgetExceededError, ConfigError, ModelError
from az_os.testing import ModelCallRecorder
from az_os.types import Task
from az_router.engine import RoutingEngine
from conftest import ModelsPlugin, priced

LONG = [
    {"name": "long", "condition": "tokens > 8000", "tier": "premium", "reason": "long prompts"},
    {"name": "rest", "condition": "fallback", "tier": "cheap", "reason": "everything else"},
]


@pytest.fixture
def host(az_home, monkeypatch):  # type: ignore[no-untyped-def]
    """A host with only this test's models (no embedded or cloud models)."""
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "router")
    host = get_host()
    host.register(
        ModelsPlugin(
            [
                priced("deepseek/deepseek-chat", 0.28, 0.42, ctx=131_072),
                priced("anthropic/claude-haiku-4-5", 1.0, 5.0),
                priced("anthropic/claude-sonnet-4-5", 3.0, 15.0),
            ]
        ),
        name="test-models",
    )
    calls = ModelCallRecorder()
    host.register(calls, name="calls")
    host.calls = calls  # type: ignore[attr-defined]
    return host


def test_get_optimal_provider_follows_this_engines_rules_and_tokens(host):
    engine = RoutingEngine(LONG, history=None)
    task = Task(description="what time is it?")
    assert asyncio.run(engine.get_optimal_provider(task, 100)) == "deepseek/deepseek-chat"
    assert asyncio.run(engine.get_optimal_provider(task, 9000)) == "anthropic/claude-sonnet-4-5"
    asyncio.run(
        engine.update_routing_rules([{"name": "all", "condition": "fallback", "tier": "mid"}])
    )
    assert asyncio.run(engine.get_optimal_provider(task, 9000)) == "anthropic/claude-haiku-4-5"
    assert engine.last_decision is not None and engine.last_decision.tokens == 9000
    # a model fixed on the task is what the engine would use: no routing
    fixed = Task(description="x", model="anthropic/claude-sonnet-4-5")
    assert asyncio.run(engine.get_optimal_provider(fixed, 10)) == "anthropic/claude-sonnet-4-5"
    assert host.calls.seen == []  # choosing calls no model


def test_get_optimal_provider_errors(host):
    engine = RoutingEngine(LONG, history=None)
    with pytest.raises(ValueError, match="estimated_tokens"):
        asyncio.run(engine.get_optimal_provider(Task(description="x"), -1))
    # 200,000 tokens fit no model's context window: the reason says so
    with pytest.raises(ModelError, match="no model to route to: no eligible candidate"):
        asyncio.run(engine.get_optimal_provider(Task(description="x"), 200_000))


def test_execute_with_routing_calls_the_chosen_model_through_the_hooks(host):
    engine = RoutingEngine(LONG, history=None)
    task = Task(description="summarise the report")
    out = asyncio.run(engine.execute_with_routing(task, "Summarise: az routes calls.", 9000))
    assert out["model"] == "anthropic/claude-sonnet-4-5"
    assert out["content"] == "answer from anthropic/claude-sonnet-4-5"
    assert (out["prompt_tokens"], out["completion_tokens"]) == (10, 5)
    assert out["cost_usd"] == pytest.approx(10 * 3e-6 + 5 * 15e-6)
    assert out["duration_ms"] >= 0 and out["route"]["rule"] == "long"
    assert host.calls.seen == [
        ("before", task.id, "anthropic/claude-sonnet-4-5"),
        ("after", task.id, host.calls.seen[1][2]),
    ]
    assert host.calls.seen[1][2].cost_usd == pytest.approx(out["cost_usd"])
    host.calls.refuse = "daily budget reached"
    with pytest.raises(BudgetExceededError):
        asyncio.run(engine.execute_with_routing(task, "again", 10))
    with pytest.raises(ConfigError, match="empty"):
        asyncio.run(engine.execute_with_routing(task, "  ", 10))


def test_execute_with_routing_records_cost_with_az_cost(az_home, monkeypatch):
    pytest.importorskip("az_cost")
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "router,cost,sqlite")
    get_host().register(ModelsPlugin([priced("openai/gpt-4o-mini", 0.15, 0.60)]), name="m")
    from az_cost.tracker import CostTracker
    from az_os.drivers import get_storage

    engine = RoutingEngine(history=None)
    loose = asyncio.run(engine.execute_with_routing(Task(description="q"), "hello?", 5))
    assert asyncio.run(CostTracker().get_total_cost("daily")) == pytest.approx(loose["cost_usd"])
    task = get_storage().create_task(Task(description="one question"))  # costs link to it
    out = asyncio.run(engine.execute_with_routing(task, "hello?", 5))
    spent = asyncio.run(CostTracker().get_cost_by_task(task.id))
    assert spent == pytest.approx(out["cost_usd"]) and spent > 0
