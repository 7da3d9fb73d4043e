"""Budgets enforced through the real hooks while the real engine runs tasks.

A scripted model with Anthropic's list prices (tests/azcost_support.py) and
a read-only echo tool are registered in the plugin host; az-cost and
az-sqlite are loaded from their entry points like in a user's install.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from az_cost import budget
from az_os.config import set_value
from az_os.errors import BudgetExceededError
from az_os.types import CostRecord, Message, ModelRequest, Task, TaskStatus
from azcost_support import SONNET_OUT, ScriptedModel, ScriptedPlugin, local_info, sonnet_info

MAX_TOKENS = 1024  # agent.max_tokens default: the completion cap of each call


def host_with(*models: ScriptedModel) -> Any:
    from az_os.plugins import get_host

    host = get_host()
    host.register(ScriptedPlugin(list(models)), name="cost-test")
    return host


def run(
    workspace: Path,
    model: ScriptedModel,
    *,
    max_cost: float | None = None,
    max_turns: int = 10,
    description: str = "echo a few steps",
) -> Task:
    from az_os.engine import ExecutionEngine

    task = Task(
        description=description,
        model=model.info.id,
        max_turns=max_turns,
        max_cost_usd=max_cost,
        approval="auto",
        workspace=str(workspace),
    )
    return asyncio.run(ExecutionEngine().execute(task, tools=["cost_test.*"]))


def costs(storage: Any, task_id: str | None = None) -> list[CostRecord]:
    return storage.list_costs(task_id=task_id)


def set_budget(amount: float, period: str = "daily", alert: float = 0) -> None:
    set_value("cost.budget_usd", amount)
    set_value("cost.budget_period", period)
    set_value("cost.alert_pct", alert)


def test_every_call_is_recorded_with_the_models_usd(storage: Any, tmp_path: Path) -> None:
    model = ScriptedModel(sonnet_info(), tool_turns=2)
    host_with(model)
    task = run(tmp_path, model)
    assert task.status == TaskStatus.COMPLETED
    rows = costs(storage, task.id)
    assert len(rows) == model.calls == 3
    assert all(r.model == "cost-test/sonnet" for r in rows)
    for r in rows:
        assert r.output_tokens == 200
        assert r.cost_usd == pytest.approx(sonnet_info().cost(r.input_tokens, r.output_tokens))
    assert sum(r.cost_usd for r in rows) == pytest.approx(task.cost_usd)
    assert sum(r.input_tokens for r in rows) == task.prompt_tokens


def test_task_cap_refuses_the_call_that_could_cross_it(storage: Any, tmp_path: Path) -> None:
    cap = 0.025
    model = ScriptedModel(sonnet_info())  # calls the tool forever
    host_with(model)
    task = run(tmp_path, model, max_cost=cap)
    assert task.status == TaskStatus.FAILED
    assert "task cost cap reached" in task.error
    assert "--max-cost" in task.error
    assert f"of its ${cap}" in task.error
    rows = costs(storage, task.id)
    spent = sum(r.cost_usd for r in rows)
    assert 1 <= len(rows) == model.calls < 10  # stopped by the cap, not by the turn limit
    assert spent <= cap
    # The refused call could have cost at least its completion cap: it had to be refused.
    assert spent + MAX_TOKENS * SONNET_OUT > cap
    # Everything done before the refusal is kept: one stored turn per paid call.
    assert len(storage.list_turns(task.id)) == len(rows)
    assert task.cost_usd == pytest.approx(spent)


def test_daily_budget_counts_today_only_and_says_how_to_raise_it(
    storage: Any, tmp_path: Path
) -> None:
    now = budget._clock()
    storage.add_cost(
        CostRecord(
            model="x/old",
            cost_usd=50.0,
            timestamp=(now - timedelta(days=1, hours=1)).astimezone(UTC),
        )
    )
    storage.add_cost(CostRecord(model="x/today", cost_usd=0.01, timestamp=now.astimezone(UTC)))
    set_budget(0.03)
    model = ScriptedModel(sonnet_info())
    host_with(model)
    task = run(tmp_path, model)
    assert task.status == TaskStatus.FAILED
    assert "daily budget reached" in task.error
    assert "az cost budget set --amount" in task.error and "--period daily" in task.error
    today = sum(r.cost_usd for r in costs(storage)) - 50.0
    assert model.calls >= 1  # yesterday's $50 did not count against today's budget
    assert today <= 0.03
    assert today + MAX_TOKENS * SONNET_OUT > 0.03


def test_zero_budget_refuses_a_paid_model_before_any_money_is_spent(
    storage: Any, tmp_path: Path
) -> None:
    set_budget(0)
    model = ScriptedModel(sonnet_info())
    host_with(model)
    task = run(tmp_path, model)
    assert task.status == TaskStatus.FAILED
    assert "budget reached" in task.error and "$0.00 of the $0.00 daily budget" in task.error
    assert model.calls == 0
    assert costs(storage) == []


def test_free_local_model_is_never_blocked(storage: Any, tmp_path: Path) -> None:
    storage.add_cost(CostRecord(model="x/paid", cost_usd=5.0))
    set_budget(1.0)  # already over budget today
    model = ScriptedModel(local_info(), tool_turns=3)
    host_with(model)
    task = run(tmp_path, model, max_cost=0.0)
    assert task.status == TaskStatus.COMPLETED
    rows = costs(storage, task.id)
    assert len(rows) == 4 and all(r.cost_usd == 0 for r in rows)
    assert all(r.model == "cost-test/local" for r in rows)


def test_alert_once_per_period(
    storage: Any,
    tmp_path: Path,
    az_home: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_budget(1.0, "daily", alert=0.3)  # warn from $0.003 on: after any one call
    model = ScriptedModel(sonnet_info(), tool_turns=3)
    host_with(model)
    task = run(tmp_path, model)
    assert task.status == TaskStatus.COMPLETED
    err = capfd.readouterr().err
    assert err.count("az: warning: cost:") == 1, err
    assert "of the $1.00 daily budget is spent" in err
    alerts = json.loads((az_home / "cost-alerts.json").read_text())
    assert list(alerts) == [f"daily {budget._clock().date().isoformat()} $1"]
    logged = [r.message for r in storage.list_logs(task_id=task.id, level="warning")]
    assert any("daily budget is spent" in m for m in logged)

    run(tmp_path, ScriptedModel(sonnet_info(), tool_turns=1))  # same day: no new warning
    assert "az: warning: cost:" not in capfd.readouterr().err

    tomorrow = budget._clock() + timedelta(days=1)
    monkeypatch.setattr(budget, "_clock", lambda: tomorrow)
    task3 = run(tmp_path, ScriptedModel(sonnet_info(), tool_turns=1))
    assert task3.status == TaskStatus.COMPLETED
    assert capfd.readouterr().err.count("az: warning: cost:") == 1
    assert f"daily {tomorrow.date().isoformat()} $1" in json.loads(
        (az_home / "cost-alerts.json").read_text()
    )


def test_concurrent_tasks_cannot_overspend_together(storage: Any, tmp_path: Path) -> None:
    """Two tasks in one process: each call's worst case is reserved until it
    is recorded, so together they stay within the budget even when the
    calls spend their whole completion cap."""
    from az_os.engine import ExecutionEngine

    amount = 0.05
    set_budget(amount)
    model = ScriptedModel(sonnet_info(), completion_tokens=MAX_TOKENS, delay_s=0.2)
    host_with(model)

    async def both() -> list[Task]:
        engine = ExecutionEngine()
        tasks = [
            Task(
                description=f"task {i}",
                model=model.info.id,
                max_turns=10,
                approval="auto",
                workspace=str(tmp_path),
            )
            for i in range(2)
        ]
        return list(
            await asyncio.gather(*(engine.execute(t, tools=["cost_test.*"]) for t in tasks))
        )

    done = asyncio.run(both())
    assert [t.status for t in done] == [TaskStatus.FAILED, TaskStatus.FAILED]
    total = sum(r.cost_usd for r in costs(storage))
    assert model.calls >= 2
    assert total <= amount


def test_invalid_budget_config_refuses_paid_calls(
    storage: Any, tmp_path: Path, az_home: Path
) -> None:
    (az_home / "config.toml").write_text('[cost]\nbudget_usd = "lots"\n')
    model = ScriptedModel(sonnet_info())
    host_with(model)
    task = run(tmp_path, model)
    assert task.status == TaskStatus.FAILED
    assert "cost.budget_usd" in task.error
    assert model.calls == 0


def _litellm() -> Any:
    return pytest.importorskip("litellm")


def _gemini_pro_case() -> tuple[Any, ScriptedModel, ModelRequest, int]:
    """Gemini 2.5 Pro priced from LiteLLM's map, a model whose own count is
    far too low, and a ~210k-token request (above the 200k price tier)."""
    litellm = _litellm()
    prices = litellm.get_model_info("gemini/gemini-2.5-pro")
    info = sonnet_info(
        id="gemini/gemini-2.5-pro",
        input_cost_per_token=prices["input_cost_per_token"],
        output_cost_per_token=prices["output_cost_per_token"],
        cache_read_cost_per_token=prices["cache_read_input_token_cost"],
        context_window=1_048_576,
        price_source="litellm model_prices_and_context_window.json",
    )

    class LiteLLMCounted(ScriptedModel):
        """Counts as az-litellm's models do (its count_tokens contract)."""

        def count_tokens(self, request: ModelRequest) -> int:
            messages = [m.to_openai() for m in request.messages]
            return int(litellm.token_counter(model=self.info.id, messages=messages))

    model = LiteLLMCounted(info)
    text = "token " * 210_000  # about 210k tokens: above Gemini 2.5 Pro's 200k price tier
    request = ModelRequest(messages=[Message(role="user", content=text)], max_tokens=2000)
    counted = litellm.token_counter(model=info.id, messages=[{"role": "user", "content": text}])
    return litellm, model, request, counted


def test_worst_case_uses_litellm_tiered_prices_and_the_models_count(az_home: Path) -> None:
    litellm, model, request, counted = _gemini_pro_case()
    info = model.info
    est = budget.estimate(model, request)
    assert est.prompt_tokens == counted > 200_000
    tiered = sum(
        litellm.cost_per_token(model=info.id, prompt_tokens=counted, completion_tokens=2000)
    )
    assert est.usd == pytest.approx(tiered)
    assert est.usd > info.cost(counted, 2000)  # base prices alone would underestimate


def test_budget_refuses_a_call_only_the_tiered_price_crosses(storage: Any, az_home: Path) -> None:
    _, model, request, counted = _gemini_pro_case()
    info = model.info
    set_value("cost.budget_usd", info.cost(counted, 2000) * 1.01)
    task = Task(description="long context")
    with pytest.raises(BudgetExceededError, match="monthly budget reached"):
        budget.check_call(task, request, model)


def test_fallback_to_a_free_model_is_recorded_as_free(storage: Any, az_home: Path) -> None:
    """A paid call that failed (no after-call) and then a local model answered:
    the row names the local model at 0 USD, not the paid model's prices."""
    from az_os.types import ModelResponse, Usage

    set_budget(1.0)
    paid, local = ScriptedModel(sonnet_info()), ScriptedModel(local_info())
    task = storage.create_task(Task(description="escalation"))
    request = ModelRequest(messages=[Message(role="user", content="hi")])
    assert budget.check_call(task, request, paid) is not None
    assert budget.inflight_usd() > 0
    # the reservation is held where every process sharing the database sees it
    reserved = storage.db.execute_sql(
        "SELECT model FROM budget_reservations WHERE task_id = ?", (task.id,)
    ).fetchall()
    assert reserved == [("cost-test/sonnet",)]
    assert budget.check_call(task, request, local) is None
    assert budget.inflight_usd() == 0
    assert storage.db.execute_sql("SELECT COUNT(*) FROM budget_reservations").fetchone() == (0,)
    response = ModelResponse(
        model="cost-test/local", message=Message(role="assistant", content="ok")
    )
    budget.record_call(task, response, Usage(prompt_tokens=50, completion_tokens=5))
    [row] = costs(storage)
    assert (row.model, row.cost_usd, row.input_tokens) == ("cost-test/local", 0.0, 50)


def test_a_paid_model_reporting_no_cost_is_priced_from_its_info(
    storage: Any, az_home: Path
) -> None:
    from az_os.types import ModelResponse, Usage

    paid = ScriptedModel(sonnet_info())
    task = storage.create_task(Task(description="missing price"))
    request = ModelRequest(messages=[Message(role="user", content="hi")])
    budget.check_call(task, request, paid)
    response = ModelResponse(model="provider-name", message=Message(role="assistant", content="ok"))
    recorded = budget.record_call(
        task, response, Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=400)
    )
    [row] = costs(storage)
    assert row.model == "cost-test/sonnet"
    assert recorded == row.cost_usd == pytest.approx(600 * 3e-6 + 400 * 3e-7 + 100 * 1.5e-5)


def test_budget_health_check(storage: Any, az_home: Path) -> None:
    from az_os.plugins import get_host

    check = get_host().health_checks()["cost.budget"]
    assert (check().status, check().detail) == ("ok", "no budget set")
    set_budget(1.0, "monthly", alert=50)
    storage.add_cost(CostRecord(model="x/paid", cost_usd=0.2))
    assert check().status == "ok"
    storage.add_cost(CostRecord(model="x/paid", cost_usd=0.4))
    result = check()
    assert result.status == "degraded"
    assert result.detail == "$0.60 of $1.00 monthly budget spent, $0.40 left"
    assert result.data["percent_used"] == pytest.approx(60.0)
    storage.add_cost(CostRecord(model="x/paid", cost_usd=0.4))
    assert check().status == "unhealthy"


def test_worst_case_assumes_the_whole_prompt_written_to_the_prompt_cache(az_home: Path) -> None:
    """Claude prompts are marked for Anthropic's cache (az-litellm), and a
    cache write costs 1.25x input: the worst case must price the prompt so."""
    litellm = _litellm()
    prices = litellm.get_model_info("anthropic/claude-sonnet-4-5")
    info = sonnet_info(
        id="anthropic/claude-sonnet-4-5",
        cache_write_cost_per_token=prices["cache_creation_input_token_cost"],
        price_source="litellm model_prices_and_context_window.json",
    )
    model = ScriptedModel(info)
    request = ModelRequest(messages=[Message(role="user", content="word " * 4000)], max_tokens=500)
    est = budget.estimate(model, request)
    written = sum(
        litellm.cost_per_token(
            model=info.id,
            prompt_tokens=est.prompt_tokens,
            completion_tokens=500,
            cache_creation_input_tokens=est.prompt_tokens,
        )
    )
    assert est.usd == pytest.approx(written)
    assert est.usd > info.cost(est.prompt_tokens, 500)  # the input price: prompt part 20% short
