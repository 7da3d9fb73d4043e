"""Cost and success of az's routing against always-premium and always-cheapest.

Replays benchmarks/data/routing_workload.jsonl (240 agent tasks: text,
priority, tokens, and for each price tier whether the task succeeded, failed
in a way the agent loop notices, or failed silently; see
routing_workload.md for where every figure comes from) through az-router's
RoutingEngine with these candidate models:

    free     local/smollm2-135m-instruct    $0    / $0     per 1M in/out, 8k context
    free     gemini/gemini-2.5-flash        $0 on the Gemini API free plan
             (priced 0 with [[models.custom]]), 1M context, --free-rpd requests a day
    free     openrouter/deepseek/deepseek-chat-v3.1:free   $0 on OpenRouter's free
             variant, 164k context, --or-rpd requests a day (50; 1000 once 10 USD of
             credits were bought), --or-fail of its calls failing upstream (429)
    cheap    deepseek/deepseek-chat         $0.28 / $0.42  128k context
    mid      anthropic/claude-haiku-4-5     $1    / $5     200k context
    premium  anthropic/claude-sonnet-4-5    $3    / $15    200k context

--free-plan picks the free-plan models of the main table: gemini (the
default), openrouter-deepseek, both, or none. The other plans follow as
extra rows, with tables of the quota and of the upstream failure share.

A free plan's daily quota is replayed on a simulated clock (--tasks-per-day
tasks a day; a task's model calls count against it): when it runs out during
a task the call fails fast with a 429 carrying the wait until the reset, the
task escalates, and the router's real cool-down code keeps later tasks off
the model until the next day. OpenRouter's free endpoints also fail upstream
("temporarily rate-limited upstream"): each call fails with probability
--or-fail after az-litellm's retries (five attempts, each counted against the
daily quota, as OpenRouter counts failed attempts); the task escalates and
the model cools down for the Retry-After (17 s). The draws are seeded per task
and shared by every failure share, so the sensitivity table is monotone.

Strategies:
    always-premium   every task on the premium model
    always-cheapest  every task on the cheapest model whose context fits (a
                     free plan while its quota lasts; no escalation)
    oracle           the cheapest model that succeeds, known in advance (a
                     bound no router reaches: it needs the outcomes)
    az (priors)      the router with its default rules and prior success rates
    az (learned)     the same, learning success rates per (model, class) from
                     the tasks replayed before (online), from what the task
                     history in the database would show: a task that ended
                     with an answer is "completed" (a silent failure too), the
                     models escalated away from count as failures (a free
                     model interrupted by a 429 too, once it ran a turn), and
                     the class is the one the router gave the first call

For the az strategies a task is a cascade: the router picks a model; if the
recorded outcome for its tier is a noticed failure, the model is removed from
the candidates and the router is asked again with failed_models and
escalate=True (as the engine does); a silent failure ends the task as failed.
Every attempt costs the task's recorded tokens at that model's prices (a
noticed failure costs --failed-share of them, default all).
USD = prompt_tokens * input price + completion_tokens * output price.

Also prints the router's decision time (p50/p95 over every call, in ms).
Target (issue 6): az at least 90% cheaper than always-premium with at most
2 points less success; decision p50 under 1 ms.

--local-runs takes the free (local) tier from real runs instead: the model
--local-model (default the 1.5B pack, local/qwen2.5-coder-1.5b-instruct),
with each simple and code task's free outcome taken from that model's
recorded `az task run` runs of examples/tasks
(benchmarks/data/agent_tasks_runs.json; see use_local_runs). The hosted
tiers' outcomes stay generated.

    python benchmarks/routing.py [--json] [--failed-share 1.0] [--free-rpd 250]
        [--tasks-per-day 30] [--free-plan gemini|openrouter-deepseek|both|none]
        [--or-rpd 50] [--or-fail 0.1] [--local-runs [FILE] [--local-model ID]]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

WORKLOAD = Path(__file__).parent / "data" / "routing_workload.jsonl"

#: (id, outcome key in the workload, input USD/token, output USD/token,
#: context window, local). The outcome key is the price tier, except for
#: the free-plan hosted model, which has its own column.
MODELS = [
    ("local/smollm2-135m-instruct", "free", 0.0, 0.0, 8192, True),
    ("gemini/gemini-2.5-flash", "free_hosted", 0.0, 0.0, 1_048_576, False),
    ("openrouter/deepseek/deepseek-chat-v3.1:free", "free_deepseek", 0.0, 0.0, 163_840, False),
    ("deepseek/deepseek-chat", "cheap", 0.28e-6, 0.42e-6, 131072, False),
    ("anthropic/claude-haiku-4-5", "mid", 1.0e-6, 5.0e-6, 200000, False),
    ("anthropic/claude-sonnet-4-5", "premium", 3.0e-6, 15.0e-6, 200000, False),
]
SLOT = {m[0]: m[1] for m in MODELS}
#: Recorded runs of examples/tasks per local model (benchmarks/agent_tasks.py --record).
LOCAL_RUNS = Path(__file__).parent / "data" / "agent_tasks_runs.json"
#: The example tasks (file name prefixes) that edit code to make something
#: work: the workload's "code" class; every other example is "simple".
EXAMPLE_CODE_TASKS = ("06", "19", "20")


def recorded_outcome(run_row: dict[str, Any]) -> str:
    """A recorded ``az task run`` row as a workload outcome: ``ok`` when its
    check passed; a failure is ``fail_silent`` when the task still ended
    ``completed`` (an answer that looks finished, which the engine cannot
    tell from a success) and ``fail_detected`` otherwise (failed, turn limit)."""
    if run_row["ok"]:
        return "ok"
    return "fail_silent" if run_row.get("status") == "completed" else "fail_detected"


def use_local_runs(
    rows: list[dict[str, Any]], path: Path, model_id: str, context_window: int = 8192
) -> dict[str, Any]:
    """Make ``model_id`` the free (local) tier and take its outcomes from
    recorded runs instead of the generated ones.

    ``path`` holds real ``az task run`` runs of examples/tasks (one per
    model, agent_tasks.py --record). The recorded rows of ``model_id`` are
    split into the workload's classes (:data:`EXAMPLE_CODE_TASKS` are code,
    the rest simple); each workload task of such a class gets, as its free
    outcome, the outcome of a recorded task of that class (a seeded shuffle
    of the class's recorded rows, taken in turn, so the workload's rate is
    the recorded rate). Classes with no recorded example (reasoning, long)
    keep their generated free outcome; hosted tiers stay generated. Changes
    ``rows`` in place; returns where the figures came from."""
    data = json.loads(path.read_text(encoding="utf-8"))
    run = next((r for r in data["runs"] if r["model"] == model_id), None)
    if run is None:
        raise SystemExit(
            f"no recorded run of {model_id} in {path}: python benchmarks/agent_tasks.py "
            f"--model {model_id} --record {path}"
        )
    pools: dict[str, list[dict[str, Any]]] = {"simple": [], "code": []}
    for r in run["rows"]:
        pools["code" if r["task"][:2] in EXAMPLE_CODE_TASKS else "simple"].append(r)
    for cls, pool in pools.items():
        random.Random(f"local-runs:{cls}").shuffle(pool)
    taken: Counter[str] = Counter()
    source: Counter[str] = Counter()
    for row in rows:
        pool = pools.get(row["category"])
        if pool:
            pick = pool[taken[row["category"]] % len(pool)]
            taken[row["category"]] += 1
            row["outcomes"]["free"] = recorded_outcome(pick)
            row["free_from"] = pick["task"]
            source["recorded"] += 1
        else:
            source["generated"] += 1
    MODELS[0] = (model_id, "free", 0.0, 0.0, context_window, True)
    SLOT.clear()
    SLOT.update({m[0]: m[1] for m in MODELS})
    walls = sorted(r["wall_s"] for r in run["rows"])
    return {
        "model": model_id,
        "file": path.name,
        "commit": run.get("commit"),
        "date": run.get("date"),
        "recorded": {
            cls: {
                "ok": sum(r["ok"] for r in pool),
                "tasks": len(pool),
                "fail_silent": sum(recorded_outcome(r) == "fail_silent" for r in pool),
            }
            for cls, pool in pools.items()
        },
        "workload_free_outcomes": dict(source),
        "wall_median_s": statistics.median(walls) if walls else None,
    }


GEMINI_FREE = "gemini/gemini-2.5-flash"
OPENROUTER_FREE = "openrouter/deepseek/deepseek-chat-v3.1:free"
#: The free-plan models of each --free-plan choice.
FREE_PLANS: dict[str, tuple[str, ...]] = {
    "gemini": (GEMINI_FREE,),
    "openrouter-deepseek": (OPENROUTER_FREE,),
    "both": (GEMINI_FREE, OPENROUTER_FREE),
    "none": (),
}
ALL_FREE_PLAN = {GEMINI_FREE, OPENROUTER_FREE}
#: Attempts of one call before az-litellm gives up on a retryable 429 (the
#: first + [litellm] retries = 4); OpenRouter counts each against the quota.
ATTEMPTS = 5
#: Retry-After of an upstream 429 on a :free model, seconds (observed: "is
#: temporarily rate-limited upstream", retry_after_seconds 17).
UPSTREAM_RETRY_AFTER = 17.0
DAY = 86400.0


def build_models(free_plan: tuple[str, ...] = FREE_PLANS["gemini"]) -> list[Any]:
    from az_os.models import Model
    from az_os.types import ModelInfo, ModelRequest, ModelResponse

    class ReplayModel(Model):
        """A candidate with real prices; never called (outcomes are recorded)."""

        def __init__(self, info: ModelInfo) -> None:
            self.info = info

        def complete(self, request: ModelRequest) -> ModelResponse:  # pragma: no cover
            raise NotImplementedError("replay models are never called")

    out = []
    for mid, _slot, pin, pout, ctx, local in MODELS:
        if mid in ALL_FREE_PLAN and mid not in free_plan:
            continue
        source = (
            "local: free"
            if local
            else "config: free plan (Gemini API free tier)"
            if mid == GEMINI_FREE
            else "config: free plan (OpenRouter :free variant)"
            if mid == OPENROUTER_FREE
            else "litellm model_prices_and_context_window.json"
        )
        out.append(
            ReplayModel(
                ModelInfo(
                    id=mid,
                    provider=mid.split("/")[0],
                    context_window=ctx,
                    input_cost_per_token=pin,
                    output_cost_per_token=pout,
                    supports_tools=True,
                    local=local,
                    price_source=source,
                )
            )
        )
    return out


def cost(model: Any, row: dict[str, Any]) -> float:
    return float(model.info.cost(row["prompt_tokens"], row["completion_tokens"]))


class Quota:
    """A free plan's requests per day (``rpd``; None: unlimited) over the
    replay's simulated days: task ``i`` runs on day ``i // per_day``.
    ``served`` is how many requests the last :meth:`take` got through."""

    def __init__(self, rpd: int | None, per_day: int) -> None:
        self.rpd, self.per_day = rpd, per_day
        self.day, self.left = -1, rpd
        self.served = 0

    def start(self, index: int) -> float:
        """Move to task ``index``; return the simulated time (s) it starts."""
        day, slot = divmod(index, self.per_day)
        if day != self.day:
            self.day, self.left = day, self.rpd
        return day * DAY + 8 * 3600 + slot * (10 * 3600 / self.per_day)

    def take(self, calls: int) -> bool:
        """Spend ``calls`` requests; False (and the rest spent) when the day's
        quota runs out first: the provider answers 429 for the day."""
        self.served = calls
        if self.left is None:
            return True
        if self.left >= calls:
            self.left -= calls
            return True
        self.served = self.left
        self.left = 0
        return False

    def until_reset(self, now: float) -> float:
        return (self.day + 1) * DAY - now


def upstream_failure(row: dict[str, Any], calls: int, share: float) -> int | None:
    """Index of the first of ``calls`` calls on the OpenRouter free model that
    fails upstream after every retry (probability ``share`` each), or None.
    Seeded by the task id alone, so every ``share`` sees the same draws."""
    rng = random.Random(f"upstream:{row['id']}")
    for k in range(calls):
        if rng.random() < share:
            return k
    return None


def free_attempt(
    row: dict[str, Any], model_id: str, calls: int, quotas: dict[str, Quota], or_fail: float
) -> tuple[str | None, int]:
    """Run ``calls`` calls of a task on a free-plan model against its quota
    and, for OpenRouter, its upstream failures. Returns ``(error, turns)``:
    error None when the calls went through, else why the attempt failed
    ("quota" or "upstream"), and how many calls succeeded before that."""
    quota = quotas[model_id]
    k = upstream_failure(row, calls, or_fail) if model_id == OPENROUTER_FREE else None
    need = calls if k is None else k + ATTEMPTS
    if not quota.take(need):
        return "quota", min(quota.served, calls if k is None else k)
    if k is not None:
        return "upstream", k
    return None, calls


def make_request(row: dict[str, Any], failed: list[dict[str, str]]) -> Any:
    from az_os.types import Message, ModelRequest, ToolSpec

    # A system prompt sized so the router's estimate is the recorded first-call prompt.
    sys_chars = max(0, row["context_tokens"] * 4 - len(row["text"]) - 16 - 120)
    return ModelRequest(
        messages=[
            Message(role="system", content="s" * sys_chars),
            Message(role="user", content=row["text"]),
        ],
        tools=[
            ToolSpec(
                name="filesystem.read",
                description="Read a file in the workspace.",
                input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
            )
        ]
        if row["tools"]
        else [],
        max_tokens=1024,
        metadata={
            "turn": 1,
            "max_turns": 5,
            "failed_models": list(failed),
            "escalate": bool(failed),
        },
    )


def quotas_for(rpd: dict[str, int | None], per_day: int) -> dict[str, Quota]:
    """One :class:`Quota` per free-plan model (``rpd``: model id -> requests a day)."""
    return {mid: Quota(q, per_day) for mid, q in rpd.items()}


def replay_az(
    rows: list[dict[str, Any]],
    models: list[Any],
    learned: bool,
    times: list[float],
    failed_share: float = 1.0,
    rpd: dict[str, int | None] | None = None,
    per_day: int = 30,
    or_fail: float = 0.0,
) -> dict[str, Any]:
    """The router's real decisions (RoutingEngine with its default rules,
    priors, cool-downs on a simulated clock) over the workload. ``rpd`` maps
    each free-plan model among ``models`` to its requests a day."""
    from az_os.types import Task, TaskPriority
    from az_router.cooldown import Cooldowns
    from az_router.engine import RoutingEngine
    from az_router.history import History

    quotas = quotas_for(rpd or {}, per_day)
    clock = [0.0]
    history = History.static() if learned else None
    engine = RoutingEngine(
        history=history, log_to_storage=False, cooldowns=Cooldowns(clock=lambda: clock[0])
    )
    total, ok_count, attempts_hist = 0.0, 0, Counter()
    calls_per_slot: Counter[str] = Counter()
    usd_per_slot: Counter[str] = Counter()
    quota_429, upstream_429 = 0, 0
    for index, row in enumerate(rows):
        clock[0] = (index // per_day) * DAY + 8 * 3600 + (index % per_day) * (10 * 3600 / per_day)
        for q in quotas.values():
            q.start(index)
        task = Task(description=row["text"], priority=TaskPriority(row["priority"]))
        failed: list[dict[str, str]] = []
        ran: list[str] = []  # models that ran at least one turn, in order (the stored turns)
        charged = 0
        success = completed = False
        while True:
            candidates = [m for m in models if m.info.id not in {f["model"] for f in failed}]
            request = make_request(row, failed)
            t0 = time.perf_counter()
            decision = engine.decide(task, request, candidates)
            times.append((time.perf_counter() - t0) * 1000)
            model = decision.model
            if model is None:
                break
            mid = model.info.id
            slot = SLOT[mid]
            outcome = row["outcomes"][slot]
            calls = row["calls"]
            if outcome == "fail_detected":
                calls = max(1, math.ceil(calls * failed_share))
            if mid in quotas:
                error, turns = free_attempt(row, mid, calls, quotas, or_fail)
                if error is not None:
                    # a 429 that outlasted the retries: fail fast, escalate
                    if turns:
                        ran.append(mid)
                    if error == "quota":
                        quota_429 += 1
                        why = "rate limited (HTTP 429): daily quota used up"
                        wait = quotas[mid].until_reset(clock[0])
                    else:
                        upstream_429 += 1
                        why = "rate limited upstream (HTTP 429), gave up after retries"
                        wait = UPSTREAM_RETRY_AFTER
                    failed.append({"model": mid, "error": why, "retry_after": f"{wait:g}"})
                    continue
            calls_per_slot[slot] += 1
            charged += 1
            ran.append(mid)
            spent = cost(model, row) * (failed_share if outcome == "fail_detected" else 1.0)
            total += spent
            usd_per_slot[slot] += spent
            if outcome == "ok":
                success = completed = True
                break
            if outcome == "fail_silent":
                completed = True  # an answer that looks finished: stored as completed
                break
            failed.append({"model": mid, "error": "recorded failure"})
        attempts_hist[charged] += 1
        ok_count += success
        if history is not None and ran:
            # what the task history would show (see the module docstring)
            models_used = list(dict.fromkeys(ran))
            cls = history.classify(row["text"], row["context_tokens"])
            for earlier in models_used[:-1]:
                history.record(earlier, cls, False)
            history.record(models_used[-1], cls, completed)
    return {
        "usd": total,
        "success": ok_count / len(rows),
        "attempts": dict(sorted(attempts_hist.items())),
        "calls_per_tier": dict(calls_per_slot),
        "usd_per_tier": {k: round(v, 4) for k, v in usd_per_slot.items()},
        "quota_429s": quota_429,
        "upstream_429s": upstream_429,
    }


def replay_fixed(
    rows: list[dict[str, Any]],
    models: list[Any],
    which: str,
    rpd: dict[str, int | None] | None,
    per_day: int,
    or_fail: float = 0.0,
) -> dict[str, Any]:
    """always-premium, or always the cheapest model whose context fits (a
    free plan while its daily quota lasts; no escalation, so an upstream 429
    fails the task)."""
    total, ok_count = 0.0, 0
    quotas = quotas_for(rpd or {}, per_day)
    for index, row in enumerate(rows):
        for q in quotas.values():
            q.start(index)
        if which == "premium":
            model = models[-1]
        else:
            need = row["context_tokens"] + 1024
            fits = [m for m in models if m.info.context_window >= need]
            model = fits[-1]
            for m in fits:
                if m.info.id in quotas:
                    error, _ = free_attempt(row, m.info.id, row["calls"], quotas, or_fail)
                    if error == "quota":
                        continue
                    if error == "upstream":
                        model = None
                        break
                model = m
                break
        if model is None:
            continue
        total += cost(model, row)
        ok_count += row["outcomes"][SLOT[model.info.id]] == "ok"
    return {"usd": total, "success": ok_count / len(rows)}


def replay_oracle(
    rows: list[dict[str, Any]],
    models: list[Any],
    rpd: dict[str, int | None] | None,
    per_day: int,
    or_fail: float = 0.0,
) -> dict[str, Any]:
    """The bound no router can beat: each task on the cheapest model whose
    recorded outcome is a success (known in advance), at one attempt, a free
    plan only while its daily quota lasts and not when its call would fail
    upstream."""
    total, ok_count = 0.0, 0
    quotas = quotas_for(rpd or {}, per_day)
    for index, row in enumerate(rows):
        for q in quotas.values():
            q.start(index)
        need = row["context_tokens"] + 1024
        winners = [
            m
            for m in models
            if m.info.context_window >= need and row["outcomes"][SLOT[m.info.id]] == "ok"
        ]
        for m in winners:
            if m.info.id in quotas:
                k = upstream_failure(row, row["calls"], or_fail)
                if m.info.id == OPENROUTER_FREE and k is not None:
                    continue
                if not quotas[m.info.id].take(row["calls"]):
                    continue
            total += cost(m, row)
            ok_count += 1
            break
    return {"usd": total, "success": ok_count / len(rows)}


#: Free-plan quotas for the sensitivity table (requests per day; None:
#: unlimited; 0: no free-plan key configured). See routing_workload.md.
RPD_SWEEP: list[int | None] = [0, 20, 50, 250, 1000, None]
#: Shares of OpenRouter free-model calls failing upstream, for the
#: sensitivity table (an assumption; see routing_workload.md).
FAIL_SWEEP: list[float] = [0.0, 0.05, 0.1, 0.2, 0.4]


def plan_quotas(plan: str, gemini_rpd: int | None, or_rpd: int | None) -> dict[str, int | None]:
    """Requests per day of each free-plan model of ``plan``."""
    rpd = {GEMINI_FREE: gemini_rpd, OPENROUTER_FREE: or_rpd}
    return {mid: rpd[mid] for mid in FREE_PLANS[plan]}


def plan_label(plan: str, rpd: dict[str, int | None]) -> str:
    def q(mid: str) -> str:
        return "unlimited" if rpd[mid] is None else f"{rpd[mid]}/day"

    if plan == "none":
        return "none (no free-plan key)"
    if plan == "both":
        return f"both (gemini {q(GEMINI_FREE)}, openrouter {q(OPENROUTER_FREE)})"
    return f"{plan} {q(FREE_PLANS[plan][0])}"


def run_plan(
    rows: list[dict[str, Any]],
    plan: str,
    rpd: dict[str, int | None],
    per_day: int,
    failed_share: float,
    or_fail: float,
    premium: dict[str, Any],
    times: list[float] | None = None,
) -> dict[str, Any]:
    """az (priors), az (learned) and the oracle under one free plan."""
    models = build_models(FREE_PLANS[plan])
    t: list[float] = [] if times is None else times
    out = {
        "always-cheapest": replay_fixed(rows, models, "cheapest", rpd, per_day, or_fail),
        "az (priors)": replay_az(rows, models, False, t, failed_share, rpd, per_day, or_fail),
        "az (learned)": replay_az(rows, models, True, t, failed_share, rpd, per_day, or_fail),
        "oracle": replay_oracle(rows, models, rpd, per_day, or_fail),
    }
    for r in out.values():
        r["cheaper_than_premium_pct"] = 100.0 * (1 - r["usd"] / premium["usd"])
        r["success_delta_points"] = 100.0 * (r["success"] - premium["success"])
    return out


def _cell(r: dict[str, Any]) -> str:
    return f"{r['cheaper_than_premium_pct']:5.1f}% {r['success_delta_points']:+5.1f} pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--failed-share",
        type=float,
        default=1.0,
        help="share of a task's tokens a noticed failure costs before escalating (default 1.0: "
        "the whole task, the conservative case; 0.5 models failures noticed half way)",
    )
    parser.add_argument(
        "--free-rpd",
        type=int,
        default=250,
        help="requests per day of the Gemini free plan (default 250, Gemini 2.5 Flash's free "
        "tier as Google published it in 2025; 0 = no free-plan key; -1 = unlimited)",
    )
    parser.add_argument(
        "--tasks-per-day",
        type=int,
        default=30,
        help="tasks a day (assumption, default 30: the 240 tasks are 8 working days)",
    )
    parser.add_argument(
        "--free-plan",
        choices=list(FREE_PLANS),
        default="gemini",
        help="free-plan models of the main table (default gemini); the others follow as extra rows",
    )
    parser.add_argument(
        "--or-rpd",
        type=int,
        default=50,
        help="requests per day of OpenRouter's :free models (default 50: no credits bought; "
        "1000 once at least 10 USD of credits were bought; -1 = unlimited)",
    )
    parser.add_argument(
        "--or-fail",
        type=float,
        default=0.1,
        help="share of OpenRouter :free calls that fail upstream (429) after every retry "
        "(assumption, default 0.1; a table shows 0-0.4)",
    )
    parser.add_argument(
        "--local-runs",
        nargs="?",
        const=str(LOCAL_RUNS),
        metavar="FILE",
        help="take the free (local) tier's outcomes from recorded az task run runs (default "
        "file: benchmarks/data/agent_tasks_runs.json) instead of the generated ones",
    )
    parser.add_argument(
        "--local-model",
        default="local/qwen2.5-coder-1.5b-instruct",
        help="with --local-runs: the local model id whose recorded run is the free tier",
    )
    args = parser.parse_args()
    rpd_g = None if args.free_rpd < 0 else args.free_rpd
    rpd_or = None if args.or_rpd < 0 else args.or_rpd
    os.environ["AZ_HOME"] = tempfile.mkdtemp(prefix="az-bench-routing-")
    os.environ.setdefault("AZ_LOAD_PLUGINS", "")  # only our replay models, no installed ones
    from az_os import hookimpl
    from az_os.plugins import get_host

    rows = [json.loads(line) for line in WORKLOAD.read_text(encoding="utf-8").splitlines() if line]
    local = (
        use_local_runs(rows, Path(args.local_runs), args.local_model) if args.local_runs else None
    )
    every_model = build_models(FREE_PLANS["both"])

    class ReplayPlugin:
        @hookimpl
        def az_register_models(self, register: Any) -> None:
            for m in every_model:
                register(m)

    get_host().register(ReplayPlugin(), name="routing-benchmark")

    from az_router.complexity import estimate

    per_day = args.tasks_per_day
    share, or_fail = args.failed_share, args.or_fail
    plan = args.free_plan
    rpd = plan_quotas(plan, rpd_g, rpd_or)
    models = build_models(FREE_PLANS[plan])
    times: list[float] = []
    premium = replay_fixed(rows, models, "premium", rpd, per_day, or_fail)
    premium["cheaper_than_premium_pct"] = 0.0
    premium["success_delta_points"] = 0.0
    main_plan = run_plan(rows, plan, rpd, per_day, share, or_fail, premium, times)
    results = {
        "always-premium": premium,
        "always-cheapest": main_plan["always-cheapest"],
        "az (priors)": main_plan["az (priors)"],
        "az (learned)": main_plan["az (learned)"],
        "oracle": main_plan["oracle"],
    }
    # the quota of the plan's first free-plan model, swept
    swept = FREE_PLANS[plan][0] if FREE_PLANS[plan] else None
    sweep = []
    for q in RPD_SWEEP if swept else []:
        r = run_plan(rows, plan, {**rpd, swept: q}, per_day, share, or_fail, premium)
        az, orc = r["az (learned)"], r["oracle"]
        sweep.append(
            {
                "free_rpd": q,
                "az_usd": az["usd"],
                "az_cheaper_pct": az["cheaper_than_premium_pct"],
                "az_success_delta_points": az["success_delta_points"],
                "oracle_cheaper_pct": orc["cheaper_than_premium_pct"],
                "quota_429s": az["quota_429s"],
            }
        )
    # every free plan, as extra rows
    scenarios: list[tuple[str, str, dict[str, int | None]]] = [
        ("none", "none", {}),
        ("gemini", "gemini", {GEMINI_FREE: rpd_g}),
        ("openrouter-deepseek", "openrouter-deepseek", {OPENROUTER_FREE: 50}),
        ("openrouter-deepseek (credits)", "openrouter-deepseek", {OPENROUTER_FREE: 1000}),
        ("both", "both", {GEMINI_FREE: rpd_g, OPENROUTER_FREE: 50}),
        ("both (credits)", "both", {GEMINI_FREE: rpd_g, OPENROUTER_FREE: 1000}),
    ]
    plans = []
    for name, p, q in scenarios:
        r = run_plan(rows, p, q, per_day, share, or_fail, premium)
        plans.append({"scenario": name, "label": plan_label(p, q), "free_rpd": q, **r})
    fail_sweep = []
    for f in FAIL_SWEEP:
        row: dict[str, Any] = {"or_fail": f}
        for name, q in (("no_credits", 50), ("credits", 1000)):
            r = run_plan(
                rows, "openrouter-deepseek", {OPENROUTER_FREE: q}, per_day, share, f, premium
            )
            row[name] = {
                k: {
                    "cheaper_pct": r[k]["cheaper_than_premium_pct"],
                    "success_delta_points": r[k]["success_delta_points"],
                    "upstream_429s": r[k].get("upstream_429s"),
                }
                for k in ("az (priors)", "az (learned)", "oracle")
            }
        fail_sweep.append(row)
    times.sort()
    timing = {
        "calls": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95)],
        "max_ms": times[-1],
    }
    confusion = Counter((r["category"], estimate(r["text"], r["context_tokens"]).cls) for r in rows)
    accuracy = sum(n for (a, b), n in confusion.items() if a == b) / len(rows)

    def met(r: dict[str, Any]) -> bool:
        return r["cheaper_than_premium_pct"] >= 90 and r["success_delta_points"] >= -2

    learned = results["az (learned)"]
    met_any = [
        f"{p['label']}: {k}" for p in plans for k in ("az (priors)", "az (learned)") if met(p[k])
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "tasks": len(rows),
                    "local_runs": local,
                    "free_plan": plan,
                    "free_rpd": rpd_g,
                    "or_rpd": rpd_or,
                    "or_fail": or_fail,
                    "tasks_per_day": per_day,
                    "results": results,
                    "free_rpd_sweep": sweep,
                    "free_plans": plans,
                    "or_fail_sweep": fail_sweep,
                    "decision_time": timing,
                    "complexity_accuracy": accuracy,
                    "target_met": met(learned),
                    "target_met_by": met_any,
                },
                indent=2,
            )
        )
        return
    if plan == "gemini":
        quota_txt = "unlimited" if rpd_g is None else f"{rpd_g} requests/day"
        plan_txt = f"free plan (gemini-2.5-flash): {quota_txt}"
    else:
        plan_txt = f"free plan: {plan_label(plan, rpd)}"
        if OPENROUTER_FREE in rpd:
            plan_txt += f", upstream failures {100 * or_fail:g}% of :free calls"
    print(f"workload: {len(rows)} tasks from {WORKLOAD.name}, {per_day} tasks/day; {plan_txt}")
    if local:
        rec = ", ".join(
            f"{cls} {v['ok']}/{v['tasks']} right ({v['fail_silent']} silent failures)"
            for cls, v in local["recorded"].items()
        )
        print(
            f"free tier: {local['model']}, outcomes of {local['workload_free_outcomes'].get('recorded', 0)} "
            f"tasks from recorded runs ({local['file']}, az {local['commit']}, {local['date']}: "
            f"{rec}; median {local['wall_median_s']:.1f} s a task), "
            f"{local['workload_free_outcomes'].get('generated', 0)} (reasoning, long) generated; "
            f"hosted tiers generated"
        )
    print(f"{'strategy':<16} {'total USD':>10} {'success':>8} {'vs premium':>11} {'Δ success':>10}")
    for name, r in results.items():
        print(
            f"{name:<16} {r['usd']:>10.4f} {100 * r['success']:>7.1f}% "
            f"{r['cheaper_than_premium_pct']:>9.1f}% {r['success_delta_points']:>+8.1f} pt"
        )
    for name in ("az (priors)", "az (learned)"):
        r = results[name]
        extra = f", upstream 429s {r['upstream_429s']}" if OPENROUTER_FREE in rpd else ""
        print(
            f"{name}: model calls per tier {r['calls_per_tier']}, USD per tier "
            f"{r['usd_per_tier']}, tasks by attempts {r['attempts']}, "
            f"quota 429s {r['quota_429s']}{extra}"
        )
    if swept:
        print(f"free-plan quota of {swept} (requests/day) -> az (learned) vs premium; oracle:")
    for row in sweep:
        q = "unlimited" if row["free_rpd"] is None else str(row["free_rpd"])
        print(
            f"  {q:>9}: {row['az_cheaper_pct']:5.1f}% cheaper, "
            f"{row['az_success_delta_points']:+.1f} pt success; oracle "
            f"{row['oracle_cheaper_pct']:5.1f}% cheaper"
        )
    print(
        f"free plans (OpenRouter :free: 50/day without credits, 1000/day with 10 USD bought; "
        f"{100 * or_fail:g}% of its calls fail upstream) -> vs always-premium:"
    )
    print(f"  {'free plan':<44} {'az (priors)':>15} {'az (learned)':>15} {'oracle':>15}")
    for p in plans:
        print(
            f"  {p['label']:<44} {_cell(p['az (priors)']):>15} {_cell(p['az (learned)']):>15} "
            f"{_cell(p['oracle']):>15}"
        )
    print("OpenRouter :free calls failing upstream -> az (learned) vs premium [upstream 429s]:")
    for row in fail_sweep:
        cells = "; ".join(
            f"{q}/day {_cell(row[k]['az (learned)'] | _pct(row[k]['az (learned)']))} "
            f"[{row[k]['az (learned)']['upstream_429s']}]"
            for k, q in (("no_credits", 50), ("credits", 1000))
        )
        print(f"  {100 * row['or_fail']:>4.0f}%: {cells}")
    print(
        f"complexity estimate agrees with the workload's category on {100 * accuracy:.1f}% of tasks"
    )
    print(
        f"decision time over {timing['calls']} calls: p50 {timing['p50_ms']:.3f} ms, "
        f"p95 {timing['p95_ms']:.3f} ms, max {timing['max_ms']:.3f} ms"
    )
    print(
        f"target (>= 90% cheaper, <= 2 pt less success, learned): "
        f"{'met' if met(learned) else 'NOT met'}; "
        f"p50 < 1 ms: {'met' if timing['p50_ms'] < 1 else 'NOT met'}"
    )
    print(f"target met by: {'; '.join(met_any) if met_any else 'no free plan'}")
    sys.exit(0)


def _pct(r: dict[str, Any]) -> dict[str, Any]:
    """A sweep cell in :func:`_cell`'s keys."""
    return {
        "cheaper_than_premium_pct": r["cheaper_pct"],
        "success_delta_points": r["success_delta_points"],
    }


if __name__ == "__main__":
    main()
