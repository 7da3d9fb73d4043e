"""Cost and success of az's routing against always-premium and always-cheapest.

Replays benchmarks/data/routing_workload.jsonl (240 agent tasks: text,
priority, tokens, and for each price tier whether the task succeeded, failed
in a way the agent loop notices, or failed silently; see
routing_workload.md for where every figure comes from) through az-router's
RoutingEngine with five candidate models:

    free     local/smollm2-135m-instruct    $0    / $0     per 1M in/out, 8k context
    free     gemini/gemini-2.5-flash        $0 on the Gemini API free plan
             (priced 0 with [[models.custom]]), 1M context, --free-rpd requests a day
    cheap    deepseek/deepseek-chat         $0.28 / $0.42  128k context
    mid      anthropic/claude-haiku-4-5     $1    / $5     200k context
    premium  anthropic/claude-sonnet-4-5    $3    / $15    200k context

The free plan's daily quota is replayed on a simulated clock (--tasks-per-day
tasks a day; a task's model calls count against it): when it runs out during
a task the call fails fast with a 429 carrying the wait until the reset, the
task escalates, and the router's real cool-down code keeps later tasks off
the model until the next day. A sensitivity table repeats az (learned) and the
oracle for several quotas.

Strategies:
    always-premium   every task on the premium model
    always-cheapest  every task on the cheapest model whose context fits
    oracle           the cheapest model that succeeds, known in advance (a
                     bound no router reaches: it needs the outcomes)
    az (priors)      the router with its default rules and prior success rates
    az (learned)     the same, learning success rates per (model, class) from
                     the outcomes of the tasks replayed before (online, as
                     the task history in the database would)

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

    python benchmarks/routing.py [--json] [--failed-share 1.0] [--free-rpd 250]
        [--tasks-per-day 30]
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
    ("deepseek/deepseek-chat", "cheap", 0.28e-6, 0.42e-6, 131072, False),
    ("anthropic/claude-haiku-4-5", "mid", 1.0e-6, 5.0e-6, 200000, False),
    ("anthropic/claude-sonnet-4-5", "premium", 3.0e-6, 15.0e-6, 200000, False),
]
SLOT = {m[0]: m[1] for m in MODELS}
FREE_PLAN = "gemini/gemini-2.5-flash"
DAY = 86400.0


def build_models(free_plan: bool = True) -> list[Any]:
    from az_os.models import Model
    from az_os.types import ModelInfo, ModelRequest, ModelResponse

    class ReplayModel(Model):
        """A candidate with real prices; never called (outcomes are recorded)."""

        def __init__(self, info: ModelInfo) -> None:
            self.info = info

        def complete(self, request: ModelRequest) -> ModelResponse:  # pragma: no cover
            raise NotImplementedError("replay models are never called")

    out = []
    for mid, slot, pin, pout, ctx, local in MODELS:
        if mid == FREE_PLAN and not free_plan:
            continue
        source = (
            "local: free"
            if local
            else "config: free plan (Gemini API free tier)"
            if slot == "free_hosted"
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
    """The free plan's requests per day (``rpd``; None: unlimited) over the
    replay's simulated days: task ``i`` runs on day ``i // per_day``."""

    def __init__(self, rpd: int | None, per_day: int) -> None:
        self.rpd, self.per_day = rpd, per_day
        self.day, self.left = -1, rpd

    def start(self, index: int) -> float:
        """Move to task ``index``; return the simulated time (s) it starts."""
        day, slot = divmod(index, self.per_day)
        if day != self.day:
            self.day, self.left = day, self.rpd
        return day * DAY + 8 * 3600 + slot * (10 * 3600 / self.per_day)

    def take(self, calls: int) -> bool:
        """Spend ``calls`` requests; False (and the rest spent) when the day's
        quota runs out first: the provider answers 429 for the day."""
        if self.left is None:
            return True
        if self.left >= calls:
            self.left -= calls
            return True
        self.left = 0
        return False

    def until_reset(self, now: float) -> float:
        return (self.day + 1) * DAY - now


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


def replay_az(
    rows: list[dict[str, Any]],
    models: list[Any],
    learned: bool,
    times: list[float],
    failed_share: float = 1.0,
    rpd: int | None = None,
    per_day: int = 30,
) -> dict[str, Any]:
    """The router's real decisions (RoutingEngine with its default rules,
    priors, cool-downs on a simulated clock) over the workload."""
    from az_os.types import Task, TaskPriority
    from az_router.complexity import estimate
    from az_router.cooldown import Cooldowns
    from az_router.engine import RoutingEngine
    from az_router.history import History

    quota = Quota(rpd, per_day)
    clock = [0.0]
    history = History.static() if learned else None
    engine = RoutingEngine(
        history=history, log_to_storage=False, cooldowns=Cooldowns(clock=lambda: clock[0])
    )
    total, ok_count, attempts_hist = 0.0, 0, Counter()
    calls_per_slot: Counter[str] = Counter()
    usd_per_slot: Counter[str] = Counter()
    quota_429 = 0
    for index, row in enumerate(rows):
        clock[0] = quota.start(index)
        task = Task(description=row["text"], priority=TaskPriority(row["priority"]))
        failed: list[dict[str, str]] = []
        ran: list[str] = []
        success = False
        while True:
            candidates = [m for m in models if m.info.id not in {f["model"] for f in failed}]
            request = make_request(row, failed)
            t0 = time.perf_counter()
            decision = engine.decide(task, request, candidates)
            times.append((time.perf_counter() - t0) * 1000)
            model = decision.model
            if model is None:
                break
            slot = SLOT[model.info.id]
            outcome = row["outcomes"][slot]
            calls = row["calls"]
            if outcome == "fail_detected":
                calls = max(1, math.ceil(calls * failed_share))
            if model.info.id == FREE_PLAN and not quota.take(calls):
                # the daily quota ran out during this task: 429, fail fast, escalate
                quota_429 += 1
                failed.append(
                    {
                        "model": model.info.id,
                        "error": "rate limited (HTTP 429): daily quota used up",
                        "retry_after": f"{quota.until_reset(clock[0]):g}",
                    }
                )
                continue
            calls_per_slot[slot] += 1
            ran.append(model.info.id)
            spent = cost(model, row) * (failed_share if outcome == "fail_detected" else 1.0)
            total += spent
            usd_per_slot[slot] += spent
            if outcome == "ok":
                success = True
                break
            if outcome == "fail_silent":
                break
            failed.append({"model": model.info.id, "error": "recorded failure"})
        attempts_hist[len(ran)] += 1
        ok_count += success
        if history is not None and ran:
            cls = estimate(row["text"], 0).cls
            for earlier in ran[:-1]:
                history.record(earlier, cls, False)
            history.record(ran[-1], cls, success)
    return {
        "usd": total,
        "success": ok_count / len(rows),
        "attempts": dict(sorted(attempts_hist.items())),
        "calls_per_tier": dict(calls_per_slot),
        "usd_per_tier": {k: round(v, 4) for k, v in usd_per_slot.items()},
        "quota_429s": quota_429,
    }


def replay_fixed(
    rows: list[dict[str, Any]], models: list[Any], which: str, rpd: int | None, per_day: int
) -> dict[str, Any]:
    """always-premium, or always the cheapest model whose context fits (the
    free plan while its daily quota lasts)."""
    total, ok_count = 0.0, 0
    quota = Quota(rpd, per_day)
    for index, row in enumerate(rows):
        quota.start(index)
        if which == "premium":
            model = models[-1]
        else:
            need = row["context_tokens"] + 1024
            fits = [m for m in models if m.info.context_window >= need]
            model = fits[0]
            if model.info.id == FREE_PLAN and not quota.take(row["calls"]):
                model = fits[1]
        total += cost(model, row)
        ok_count += row["outcomes"][SLOT[model.info.id]] == "ok"
    return {"usd": total, "success": ok_count / len(rows)}


def replay_oracle(
    rows: list[dict[str, Any]], models: list[Any], rpd: int | None, per_day: int
) -> dict[str, Any]:
    """The bound no router can beat: each task on the cheapest model whose
    recorded outcome is a success (known in advance), at one attempt, the
    free plan only while its daily quota lasts."""
    total, ok_count = 0.0, 0
    quota = Quota(rpd, per_day)
    for index, row in enumerate(rows):
        quota.start(index)
        need = row["context_tokens"] + 1024
        winners = [
            m
            for m in models
            if m.info.context_window >= need and row["outcomes"][SLOT[m.info.id]] == "ok"
        ]
        for m in winners:
            if m.info.id == FREE_PLAN and not quota.take(row["calls"]):
                continue
            total += cost(m, row)
            ok_count += 1
            break
    return {"usd": total, "success": ok_count / len(rows)}


#: Free-plan quotas for the sensitivity table (requests per day; None:
#: unlimited; 0: no free-plan key configured). See routing_workload.md.
RPD_SWEEP: list[int | None] = [0, 20, 50, 250, 1000, None]


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
        help="requests per day of the free plan (default 250, Gemini 2.5 Flash's free tier as "
        "Google published it in 2025; 0 = no free-plan key; -1 = unlimited)",
    )
    parser.add_argument(
        "--tasks-per-day",
        type=int,
        default=30,
        help="tasks a day (assumption, default 30: the 240 tasks are 8 working days)",
    )
    args = parser.parse_args()
    rpd = None if args.free_rpd < 0 else args.free_rpd
    os.environ["AZ_HOME"] = tempfile.mkdtemp(prefix="az-bench-routing-")
    os.environ.setdefault("AZ_LOAD_PLUGINS", "")  # only our replay models, no installed ones
    from az_os import hookimpl
    from az_os.plugins import get_host

    rows = [json.loads(line) for line in WORKLOAD.read_text(encoding="utf-8").splitlines() if line]
    models = build_models()

    class ReplayPlugin:
        @hookimpl
        def az_register_models(self, register: Any) -> None:
            for m in models:
                register(m)

    get_host().register(ReplayPlugin(), name="routing-benchmark")

    from az_router.complexity import estimate

    per_day = args.tasks_per_day
    times: list[float] = []
    results = {
        "always-premium": replay_fixed(rows, models, "premium", rpd, per_day),
        "always-cheapest": replay_fixed(rows, models, "cheapest", rpd, per_day),
        "az (priors)": replay_az(rows, models, False, times, args.failed_share, rpd, per_day),
        "az (learned)": replay_az(rows, models, True, times, args.failed_share, rpd, per_day),
        "oracle": replay_oracle(rows, models, rpd, per_day),
    }
    premium = results["always-premium"]
    for r in results.values():
        r["cheaper_than_premium_pct"] = 100.0 * (1 - r["usd"] / premium["usd"])
        r["success_delta_points"] = 100.0 * (r["success"] - premium["success"])
    sweep = []
    for q in RPD_SWEEP:
        az = replay_az(rows, models, True, [], args.failed_share, q, per_day)
        orc = replay_oracle(rows, models, q, per_day)
        sweep.append(
            {
                "free_rpd": q,
                "az_usd": az["usd"],
                "az_cheaper_pct": 100.0 * (1 - az["usd"] / premium["usd"]),
                "az_success_delta_points": 100.0 * (az["success"] - premium["success"]),
                "oracle_cheaper_pct": 100.0 * (1 - orc["usd"] / premium["usd"]),
                "quota_429s": az["quota_429s"],
            }
        )
    times.sort()
    timing = {
        "calls": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95)],
        "max_ms": times[-1],
    }
    confusion = Counter((r["category"], estimate(r["text"], r["context_tokens"]).cls) for r in rows)
    accuracy = sum(n for (a, b), n in confusion.items() if a == b) / len(rows)
    learned = results["az (learned)"]
    met = learned["cheaper_than_premium_pct"] >= 90 and learned["success_delta_points"] >= -2
    if args.json:
        print(
            json.dumps(
                {
                    "tasks": len(rows),
                    "free_rpd": rpd,
                    "tasks_per_day": per_day,
                    "results": results,
                    "free_rpd_sweep": sweep,
                    "decision_time": timing,
                    "complexity_accuracy": accuracy,
                    "target_met": met,
                },
                indent=2,
            )
        )
        return
    quota_txt = "unlimited" if rpd is None else f"{rpd} requests/day"
    print(
        f"workload: {len(rows)} tasks from {WORKLOAD.name}, {per_day} tasks/day; "
        f"free plan (gemini-2.5-flash): {quota_txt}"
    )
    print(f"{'strategy':<16} {'total USD':>10} {'success':>8} {'vs premium':>11} {'Δ success':>10}")
    for name, r in results.items():
        print(
            f"{name:<16} {r['usd']:>10.4f} {100 * r['success']:>7.1f}% "
            f"{r['cheaper_than_premium_pct']:>9.1f}% {r['success_delta_points']:>+8.1f} pt"
        )
    for name in ("az (priors)", "az (learned)"):
        r = results[name]
        print(
            f"{name}: model calls per tier {r['calls_per_tier']}, USD per tier "
            f"{r['usd_per_tier']}, tasks by attempts {r['attempts']}, "
            f"quota 429s {r['quota_429s']}"
        )
    print("free-plan quota (requests/day) -> az (learned) vs premium; oracle:")
    for row in sweep:
        q = "unlimited" if row["free_rpd"] is None else str(row["free_rpd"])
        print(
            f"  {q:>9}: {row['az_cheaper_pct']:5.1f}% cheaper, "
            f"{row['az_success_delta_points']:+.1f} pt success; oracle "
            f"{row['oracle_cheaper_pct']:5.1f}% cheaper"
        )
    print(
        f"complexity estimate agrees with the workload's category on {100 * accuracy:.1f}% of tasks"
    )
    print(
        f"decision time over {timing['calls']} calls: p50 {timing['p50_ms']:.3f} ms, "
        f"p95 {timing['p95_ms']:.3f} ms, max {timing['max_ms']:.3f} ms"
    )
    print(
        f"target (>= 90% cheaper, <= 2 pt less success, learned): {'met' if met else 'NOT met'}; "
        f"p50 < 1 ms: {'met' if timing['p50_ms'] < 1 else 'NOT met'}"
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
