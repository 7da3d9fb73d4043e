"""Cost and success of az's routing against always-premium and always-cheapest.

Replays benchmarks/data/routing_workload.jsonl (240 agent tasks: text,
priority, tokens, and for each price tier whether the task succeeded, failed
in a way the agent loop notices, or failed silently; see
routing_workload.md for where every figure comes from) through az-router's
RoutingEngine with four candidate models at their LiteLLM prices:

    free     local/smollm2-135m-instruct    $0    / $0     per 1M in/out, 8k context
    cheap    deepseek/deepseek-chat         $0.28 / $0.42  128k context
    mid      anthropic/claude-haiku-4-5     $1    / $5     200k context
    premium  anthropic/claude-sonnet-4-5    $3    / $15    200k context

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

    python benchmarks/routing.py [--json] [--failed-share 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

WORKLOAD = Path(__file__).parent / "data" / "routing_workload.jsonl"

#: (id, tier, input USD/token, output USD/token, context window, local)
MODELS = [
    ("local/smollm2-135m-instruct", "free", 0.0, 0.0, 8192, True),
    ("deepseek/deepseek-chat", "cheap", 0.28e-6, 0.42e-6, 131072, False),
    ("anthropic/claude-haiku-4-5", "mid", 1.0e-6, 5.0e-6, 200000, False),
    ("anthropic/claude-sonnet-4-5", "premium", 3.0e-6, 15.0e-6, 200000, False),
]


def build_models() -> list[Any]:
    from az_os.models import Model
    from az_os.types import ModelInfo, ModelRequest, ModelResponse

    class ReplayModel(Model):
        """A candidate with real prices; never called (outcomes are recorded)."""

        def __init__(self, info: ModelInfo) -> None:
            self.info = info

        def complete(self, request: ModelRequest) -> ModelResponse:  # pragma: no cover
            raise NotImplementedError("replay models are never called")

    out = []
    for mid, _tier, pin, pout, ctx, local in MODELS:
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
                    price_source="litellm model_prices_and_context_window.json"
                    if not local
                    else "local: free",
                )
            )
        )
    return out


def cost(model: Any, row: dict[str, Any]) -> float:
    return model.info.cost(row["prompt_tokens"], row["completion_tokens"])


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
) -> dict[str, Any]:
    from az_os.types import Task, TaskPriority
    from az_router.complexity import estimate
    from az_router.engine import RoutingEngine
    from az_router.history import History
    from az_router.tiers import tier_of

    history = History.static() if learned else None
    engine = RoutingEngine(history=history, log_to_storage=False)
    total, ok_count, attempts_hist, tiers_used = 0.0, 0, Counter(), Counter()
    for row in rows:
        task = Task(description=row["text"], priority=TaskPriority(row["priority"]))
        failed: list[dict[str, str]] = []
        tried: list[str] = []
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
            tier = tier_of(model.info)
            tiers_used[tier] += 1
            tried.append(model.info.id)
            outcome = row["outcomes"][tier]
            total += cost(model, row) * (failed_share if outcome == "fail_detected" else 1.0)
            if outcome == "ok":
                success = True
                break
            if outcome == "fail_silent":
                break
            failed.append({"model": model.info.id, "error": "recorded failure"})
        attempts_hist[len(tried)] += 1
        ok_count += success
        if history is not None and tried:
            cls = estimate(row["text"], 0).cls
            for earlier in tried[:-1]:
                history.record(earlier, cls, False)
            history.record(tried[-1], cls, success)
    return {
        "usd": total,
        "success": ok_count / len(rows),
        "attempts": dict(sorted(attempts_hist.items())),
        "calls_per_tier": dict(tiers_used),
    }


def replay_fixed(rows: list[dict[str, Any]], models: list[Any], which: str) -> dict[str, Any]:
    total, ok_count = 0.0, 0
    by_tier = {m[0]: m[1] for m in MODELS}
    for row in rows:
        if which == "premium":
            model = models[-1]
        else:
            need = row["context_tokens"] + 1024
            model = next(m for m in models if m.info.context_window >= need)
        total += cost(model, row)
        ok_count += row["outcomes"][by_tier[model.info.id]] == "ok"
    return {"usd": total, "success": ok_count / len(rows)}


def replay_oracle(rows: list[dict[str, Any]], models: list[Any]) -> dict[str, Any]:
    """The bound no router can beat: each task on the cheapest model whose
    recorded outcome is a success (known in advance), at one attempt."""
    total, ok_count = 0.0, 0
    for row in rows:
        need = row["context_tokens"] + 1024
        fits = [m for m in models if m.info.context_window >= need]
        by_tier = {m[0]: m[1] for m in MODELS}
        winner = next((m for m in fits if row["outcomes"][by_tier[m.info.id]] == "ok"), None)
        if winner is not None:
            total += cost(winner, row)
            ok_count += 1
    return {"usd": total, "success": ok_count / len(rows)}


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
    args = parser.parse_args()
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

    times: list[float] = []
    results = {
        "always-premium": replay_fixed(rows, models, "premium"),
        "always-cheapest": replay_fixed(rows, models, "cheapest"),
        "az (priors)": replay_az(rows, models, False, times, args.failed_share),
        "az (learned)": replay_az(rows, models, True, times, args.failed_share),
        "oracle": replay_oracle(rows, models),
    }
    premium = results["always-premium"]
    for r in results.values():
        r["cheaper_than_premium_pct"] = 100.0 * (1 - r["usd"] / premium["usd"])
        r["success_delta_points"] = 100.0 * (r["success"] - premium["success"])
    times.sort()
    timing = {
        "calls": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95)],
        "max_ms": times[-1],
    }
    confusion = Counter((r["category"], estimate(r["text"], r["context_tokens"]).cls) for r in rows)
    accuracy = sum(n for (a, b), n in confusion.items() if a == b) / len(rows)
    if args.json:
        print(
            json.dumps(
                {
                    "tasks": len(rows),
                    "results": results,
                    "decision_time": timing,
                    "complexity_accuracy": accuracy,
                },
                indent=2,
            )
        )
        return
    print(f"workload: {len(rows)} tasks from {WORKLOAD.name}")
    print(f"{'strategy':<16} {'total USD':>10} {'success':>8} {'vs premium':>11} {'Δ success':>10}")
    for name, r in results.items():
        print(
            f"{name:<16} {r['usd']:>10.4f} {100 * r['success']:>7.1f}% "
            f"{r['cheaper_than_premium_pct']:>9.1f}% {r['success_delta_points']:>+8.1f} pt"
        )
    for name in ("az (priors)", "az (learned)"):
        r = results[name]
        print(
            f"{name}: model calls per tier {r['calls_per_tier']}, tasks by attempts {r['attempts']}"
        )
    print(
        f"complexity estimate agrees with the workload's category on {100 * accuracy:.1f}% of tasks"
    )
    print(
        f"decision time over {timing['calls']} calls: p50 {timing['p50_ms']:.3f} ms, "
        f"p95 {timing['p95_ms']:.3f} ms, max {timing['max_ms']:.3f} ms"
    )
    learned = results["az (learned)"]
    met = learned["cheaper_than_premium_pct"] >= 90 and learned["success_delta_points"] >= -2
    print(
        f"target (>= 90% cheaper, <= 2 pt less success, learned): {'met' if met else 'NOT met'}; "
        f"p50 < 1 ms: {'met' if timing['p50_ms'] < 1 else 'NOT met'}"
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
