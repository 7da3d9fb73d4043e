"""Learning from outcomes: the class a task is learned under, skips on clear
evidence only, and priors for OpenRouter's free DeepSeek."""

from __future__ import annotations

import pytest
from az_os.types import Task, TaskStatus, Turn, Usage
from az_router.engine import RoutingEngine
from az_router.history import History, Outcomes
from az_router.tiers import model_key, success_prior
from conftest import candidates, priced, request, task
from test_routing import needs_sqlite

CODE = "fix the failing test in tests/test_io.py"
GEMINI = "gemini/gemini-2.5-flash"
OR_DEEPSEEK = "openrouter/deepseek/deepseek-chat-v3.1:free"


@pytest.fixture
def with_free(models):
    return {
        **models,
        "gemini": priced(GEMINI, 0, 0, ctx=1_048_576),
        "or-deepseek": priced(OR_DEEPSEEK, 0, 0, ctx=163_840),
    }


def _engine(counts: dict[tuple[str, str], list[int]]) -> RoutingEngine:
    return RoutingEngine(history=History.static(Outcomes(counts=counts)), log_to_storage=False)


def test_an_unlucky_start_does_not_freeze_a_capable_free_model_out(az_home, models):
    cands = candidates({**models, "gemini": priced(GEMINI, 0, 0, ctx=1_048_576)})
    # 1 success in 5 code tasks: (1 + 4 * 0.61) / 9 = 0.38, under the 0.4 bar,
    # but 5 outcomes do not show that a model passing 61% is below it
    d = _engine({(GEMINI, "code"): [1, 5]}).decide(task(CODE), request(CODE), cands)
    gemini = next(c for c in d.candidates if c.id == GEMINI)
    assert gemini.samples == 5 and gemini.success_rate == pytest.approx(3.44 / 9)
    assert d.model_id == GEMINI and not d.escalation
    # 2 in 25 is clear: the tier is skipped on what was learned
    d = _engine({(GEMINI, "code"): [2, 25]}).decide(task(CODE), request(CODE), cands)
    assert d.tier == "cheap"
    assert d.escalation and d.escalation[0].startswith("learned:")
    assert "upper bound" in d.escalation[0]


def test_openrouter_free_deepseek_has_its_model_cards_priors(az_home, with_free):
    assert model_key(OR_DEEPSEEK) == "deepseek-chat-v3.1"
    assert success_prior(OR_DEEPSEEK, "free", "code") == pytest.approx(0.78)
    assert success_prior(OR_DEEPSEEK, "free", "long") == pytest.approx(0.66)
    # the weights behind deepseek-chat, wherever served, share its priors
    for cls in ("simple", "code", "reasoning", "long"):
        assert success_prior("openrouter/deepseek/deepseek-v3.2-exp:free", "free", cls) == (
            success_prior("deepseek/deepseek-chat", "cheap", cls)
        )
    d = RoutingEngine(history=None).decide(task(CODE), request(CODE), candidates(with_free))
    assert d.tier == "free" and d.model_id == OR_DEEPSEEK


@needs_sqlite
def test_history_learns_a_task_under_the_class_its_first_call_was_routed_as(az_home):
    from az_os.drivers import get_storage

    storage = get_storage()
    text = "summarize what this file says"  # text alone: simple
    for prompt_tokens, model in ((20_000, "deepseek/deepseek-chat"), (900, GEMINI)):
        t = storage.create_task(Task(description=text))
        storage.add_turn(
            Turn(task_id=t.id, index=1, model=model, usage=Usage(prompt_tokens=prompt_tokens))
        )
        t.status = TaskStatus.COMPLETED
        t.model = model
        storage.update_task(t)
    counts = History(long_tokens=8000).outcomes().counts
    assert counts == {("deepseek/deepseek-chat", "long"): [1, 1], (GEMINI, "simple"): [1, 1]}
    # the cross-process cache keeps the prompt size, so a new process agrees
    assert History(long_tokens=8000).outcomes().counts == counts


@needs_sqlite
def test_an_old_cache_entry_without_the_prompt_size_is_read_again(az_home):
    import json

    from az_os.drivers import get_storage
    from az_router.history import CACHE_FILE

    storage = get_storage()
    t = storage.create_task(Task(description="summarize what this file says"))
    storage.add_turn(Turn(task_id=t.id, index=1, model=GEMINI, usage=Usage(prompt_tokens=12_000)))
    t.status = TaskStatus.COMPLETED
    storage.update_task(t)
    stamp = storage.get_task(t.id).updated_at.isoformat()
    (az_home / CACHE_FILE).write_text(
        json.dumps({t.id: {"u": stamp, "models": [GEMINI]}}), encoding="utf-8"
    )
    assert History().outcomes().counts == {(GEMINI, "long"): [1, 1]}
