"""Routing decisions: capability filters, cascade, learned scores, the hook."""

from __future__ import annotations

import pytest
from az_os.types import Task, TaskStatus, ToolCall, ToolResult, Turn
from az_router.engine import RoutingEngine
from az_router.history import History
from conftest import ModelsPlugin, candidates, priced, request, task


def _sqlite_available() -> bool:
    from az_os.drivers import storage_backends

    return "sqlite" in storage_backends()


needs_sqlite = pytest.mark.skipif(
    not _sqlite_available(), reason="the 'sqlite' storage backend (az-sqlite) is not installed"
)


# -- filters --------------------------------------------------------------------
def test_context_window_filter(az_home, models):
    engine = RoutingEngine(history=None)
    # 7,500 prompt tokens + 1,024 max_tokens > the local model's 8,192
    d = engine.decide(
        task("what time is it?"),
        request("what time is it?", context_tokens=7500),
        candidates(models),
    )
    local = next(c for c in d.candidates if c.id == "local/smollm2-135m-instruct")
    assert local.excluded and "context window 8192 <" in local.excluded
    assert d.model_id != "local/smollm2-135m-instruct"
    assert d.tier == "cheap"  # the free tier is empty now: nearest tier above


def test_tool_support_filter(az_home, models):
    engine = RoutingEngine(history=None)
    no_tools = priced("example/no-tools-cheap", 0.05, 0.10, tools=False)
    cands = [no_tools, models["mid"]]
    d = engine.decide(task("fix src/app.py"), request("fix src/app.py"), cands)
    assert d.model_id == "anthropic/claude-haiku-4-5"
    assert d.candidates[0].excluded == "no tool support and tools are offered"
    # without tools offered the cheap model is fine
    d = engine.decide(task("fix src/app.py"), request("fix src/app.py", tools=False), cands)
    assert d.model_id == "example/no-tools-cheap"


#: A user who trusts the embedded model with simple chores ([router.priors]).
TRUST_LOCAL = {"local/smollm2-135m-instruct": {"simple": 0.9}}


def test_local_models_count_as_tool_capable(az_home, models):
    d = RoutingEngine(history=None, priors=TRUST_LOCAL).decide(
        task("list the files in src"), request("list the files in src"), candidates(models)
    )
    assert d.model_id == "local/smollm2-135m-instruct"


def test_no_eligible_candidate(az_home, models):
    d = RoutingEngine(history=None).decide(
        task("hi"), request("hi", context_tokens=300_000), candidates(models)
    )
    assert d.model is None
    assert "no eligible candidate" in d.reason and "context window" in d.reason


# -- cascade ------------------------------------------------------------------------
def test_escalates_past_failed_models_never_repicking_them(az_home, models):
    engine = RoutingEngine(history=None)
    text = "fix the failing test in tests/test_io.py"
    cands = candidates(models)
    first = engine.decide(task(text), request(text), cands)
    assert first.tier == "cheap" and not first.escalation
    failed = [{"model": first.model_id, "error": "503 from provider"}]
    second = engine.decide(task(text), request(text, failed_models=failed, escalate=True), cands)
    assert second.tier == "mid"
    assert second.model_id == "anthropic/claude-haiku-4-5"
    assert "503 from provider" in second.escalation[0]
    assert "escalated" in second.reason
    failed.append({"model": second.model_id, "error": "malformed output after repair"})
    third = engine.decide(task(text), request(text, failed_models=failed, escalate=True), cands)
    assert third.model_id == "anthropic/claude-sonnet-4-5"
    failed.append({"model": third.model_id, "error": "timeout"})
    fourth = engine.decide(task(text), request(text, failed_models=failed, escalate=True), cands)
    # every tier above failed: the best model left, never one that failed
    assert fourth.model_id not in {f["model"] for f in failed}
    assert fourth.model is not None


def test_failed_model_removed_from_candidates_is_found_through_the_host(az_home, models):
    from az_os.plugins import get_host

    get_host().register(ModelsPlugin(list(models.values())), name="test-models")
    engine = RoutingEngine(history=None)
    text = "fix the failing test in tests/test_io.py"
    # the engine removes the failed mid model; the router still knows its tier
    cands = candidates(models, "free", "cheap", "cheap2", "premium")
    failed = [{"model": "anthropic/claude-haiku-4-5", "error": "overloaded"}]
    d = engine.decide(task(text), request(text, failed_models=failed, escalate=True), cands)
    assert d.model_id == "anthropic/claude-sonnet-4-5"


def test_escalate_flag_moves_one_tier_up(az_home, models):
    d = RoutingEngine(history=None).decide(
        task("what time is it?"), request("what time is it?", escalate=True), candidates(models)
    )
    assert d.start_tier == "free" and d.tier == "cheap"
    assert d.escalation == ["the engine asked to escalate"]


@needs_sqlite
def test_no_progress_near_the_turn_limit_escalates_and_is_logged(az_home, models):
    from az_os.drivers import get_storage

    storage = get_storage()
    t = storage.create_task(Task(description="what time is it in Tokyo?"))
    call = ToolCall(name="shell.execute", arguments={"command": "date"})
    for i in (1, 2, 3):
        storage.add_turn(
            Turn(
                task_id=t.id,
                index=i,
                model="local/smollm2-135m-instruct",
                tool_calls=[call],
                tool_results=[ToolResult(success=True, result="x")],
            )
        )
    engine = RoutingEngine(history=None, priors=TRUST_LOCAL)
    early = engine.decide(t, request(t.description, turn=2, max_turns=5), candidates(models))
    assert early.tier == "free" and not early.escalation  # not near the limit yet
    late = engine.decide(t, request(t.description, turn=4, max_turns=5), candidates(models))
    assert late.tier == "cheap"
    assert (
        "no progress" in late.escalation[0] and "repeated the same tool call" in late.escalation[0]
    )
    logs = storage.list_logs(task_id=t.id)
    assert any("router: escalated" in r.message and "no progress" in r.message for r in logs)


@needs_sqlite
def test_progress_means_no_escalation(az_home, models):
    from az_os.drivers import get_storage

    storage = get_storage()
    t = storage.create_task(Task(description="what time is it in Tokyo?"))
    for i, cmd in enumerate(("date", "TZ=Asia/Tokyo date", "cal"), 1):
        storage.add_turn(
            Turn(
                task_id=t.id,
                index=i,
                model="local/smollm2-135m-instruct",
                tool_calls=[ToolCall(name="shell.execute", arguments={"command": cmd})],
                tool_results=[ToolResult(success=True, result="ok")],
            )
        )
    d = RoutingEngine(history=None, priors=TRUST_LOCAL).decide(
        t, request(t.description, turn=4, max_turns=5), candidates(models)
    )
    assert d.tier == "free" and not d.escalation


# -- learning from outcomes ------------------------------------------------------------
def _record(storage, text, model, status, n):
    for _ in range(n):
        t = storage.create_task(Task(description=text))
        storage.add_turn(Turn(task_id=t.id, index=1, model=model))
        t.status = status
        t.model = model
        storage.update_task(t)


@needs_sqlite
def test_learned_success_rates_from_sqlite_history_skip_a_failing_tier(az_home, models):
    from az_os.drivers import get_storage

    storage = get_storage()
    _record(
        storage, "what time is it in Lima?", "local/smollm2-135m-instruct", TaskStatus.FAILED, 6
    )
    engine = RoutingEngine(history=History(), min_samples=5)
    d = engine.decide(
        task("what time is it in Oslo?"), request("what time is it in Oslo?"), candidates(models)
    )
    local = next(c for c in d.candidates if c.id == "local/smollm2-135m-instruct")
    # (0 successes + 4 * prior 0.30) / (6 + 4) = 0.12
    assert local.samples == 6 and local.success_rate == pytest.approx(0.12)
    assert d.start_tier == "free" and d.tier == "cheap"
    assert d.escalation and d.escalation[0].startswith("learned:")
    assert "task history in" in d.history


@needs_sqlite
def test_learned_scores_pick_the_better_model_within_a_tier(az_home, models):
    from az_os.drivers import get_storage

    storage = get_storage()
    text = "fix the failing test in tests/test_parser.py"
    engine = RoutingEngine(history=History())
    cands = candidates(models)
    before = engine.decide(task(text), request(text), cands)
    assert before.tier == "cheap"
    assert before.model_id == "openai/gpt-4o-mini"  # cheaper blend: higher cost score
    _record(storage, "fix the bug in src/cache.py", "openai/gpt-4o-mini", TaskStatus.FAILED, 8)
    _record(
        storage, "fix the bug in src/cache.py", "deepseek/deepseek-chat", TaskStatus.COMPLETED, 8
    )
    engine.history.invalidate()
    after = engine.decide(task(text), request(text), cands)
    assert after.model_id == "deepseek/deepseek-chat"
    scores = {c.id: c for c in after.candidates}
    assert scores["deepseek/deepseek-chat"].score > scores["openai/gpt-4o-mini"].score
    # score = quality*0.5 + success_rate*0.3 + cost_score*0.2
    c = scores["deepseek/deepseek-chat"]
    assert c.score == pytest.approx(c.quality * 0.5 + c.success_rate * 0.3 + c.cost_score * 0.2)


@needs_sqlite
def test_escalated_away_models_count_as_failures(az_home):
    from az_os.drivers import get_storage

    storage = get_storage()
    t = storage.create_task(Task(description="fix the bug in src/db.py"))
    storage.add_turn(Turn(task_id=t.id, index=1, model="deepseek/deepseek-chat"))
    storage.add_turn(Turn(task_id=t.id, index=2, model="anthropic/claude-haiku-4-5"))
    t.status = TaskStatus.COMPLETED
    storage.update_task(t)
    counts = History().outcomes().counts
    assert counts[("deepseek/deepseek-chat", "code")] == [0, 1]
    assert counts[("anthropic/claude-haiku-4-5", "code")] == [1, 1]


def test_without_storage_rates_are_priors(az_home, monkeypatch, models):
    monkeypatch.setenv("AZ_STORAGE__BACKEND", "nonexistent")
    h = History()
    assert h.outcomes().source.startswith("priors (no storage")
    rate, n = h.success_rate("deepseek/deepseek-chat", "cheap", "code")
    assert (rate, n) == (pytest.approx(0.80), 0)


def test_cost_score_normalisation(az_home, models):
    d = RoutingEngine(history=None).decide(task("hi"), request("hi"), candidates(models))
    by_id = {c.id: c for c in d.candidates}
    assert by_id["local/smollm2-135m-instruct"].cost_score == pytest.approx(1.0)
    # sonnet: blended 6.0 USD/1M -> (0 + 0.01) / (6.0 + 0.01)
    assert by_id["anthropic/claude-sonnet-4-5"].cost_score == pytest.approx(0.01 / 6.01)
    assert all(0 <= c.cost_score <= 1 for c in d.candidates)


# -- the hook -------------------------------------------------------------------------
def test_az_route_hook_through_the_plugin_host(az_home, models):
    from az_os.plugins import get_host

    host = get_host()
    assert any(r.name == "router" and r.status == "loaded" for r in host.plugins())
    req = request("fix the failing test in tests/test_io.py")
    chosen = host.route(task("fix the failing test in tests/test_io.py"), req, candidates(models))
    assert chosen is not None and chosen.info.id in ("openai/gpt-4o-mini", "deepseek/deepseek-chat")
    assert req.metadata["route"]["tier"] == "cheap"
    assert req.metadata["route"]["rule"] == "code"


def test_user_fixed_model_is_left_to_the_kernel(az_home, models):
    from az_os.plugins import get_host

    host = get_host()
    host.register(ModelsPlugin(list(models.values())), name="test-models")
    t = Task(description="what time is it?", model="anthropic/claude-sonnet-4-5")
    chosen = host.route(t, request("what time is it?"), candidates(models))
    assert chosen.info.id == "anthropic/claude-sonnet-4-5"


@needs_sqlite
def test_task_models_are_cached_across_processes(az_home, monkeypatch):
    from az_os.drivers import get_storage

    storage = get_storage()
    _record(storage, "fix the bug in src/db.py", "deepseek/deepseek-chat", TaskStatus.COMPLETED, 3)
    first = History().outcomes().counts
    assert first[("deepseek/deepseek-chat", "code")] == [3, 3]
    assert (az_home / "router-history.json").exists()

    calls = []
    real = type(storage).list_turns
    monkeypatch.setattr(
        type(storage), "list_turns", lambda self, tid: calls.append(tid) or real(self, tid)
    )
    again = History().outcomes().counts
    assert again == first and calls == []  # nothing re-read for unchanged tasks
    _record(storage, "fix the bug in src/db.py", "deepseek/deepseek-chat", TaskStatus.FAILED, 1)
    third = History().outcomes().counts
    assert third[("deepseek/deepseek-chat", "code")] == [3, 4] and len(calls) == 1
