"""Does az-memory help? An A/B on the local default model, reported as measured.

    python benchmarks/memory.py [--repeat N] [--model M]
    python benchmarks/memory.py --examples [--model M] [--only PREFIX ...] [--timeout S]
        [--learn-first] [--jsonl FILE] [--record FILE [--note TEXT]]

``--examples``: the 25 example tasks of ``examples/tasks/`` (the checks of
``benchmarks/agent_tasks.py``), each run once with memory off and once with
memory on, the two arms interleaved task by task (which arm goes first
alternates) so machine load drifts alike over both. Memory off: a fresh
AZ_HOME per task, lessons neither written nor recalled (``agent_tasks.py``'s
setting). Memory on: one AZ_HOME for the whole run, so each task recalls the
lessons that the earlier, different tasks of the run left (what a user of
one az home gets); a task never sees lessons of its own (with
``--learn-first`` it does: every task first runs once, unscored, in that
home, so the A/B then shows the most recall can give, answers included).
rag's auto-index is off in both arms. Printed per task: right or not and turns per arm, and how
many lessons went into the memory-on task's context (the rise of the
lessons' access counts, read with ``az memory list --json``); then per arm
tasks right, mean turns, tokens, median wall seconds, and the tasks that
flipped. ``--timeout`` bounds each ``az task run`` (the task then counts as
failed). ``--record`` adds the run (with benchmarks/baseline.py's yardsticks
before and after) to a JSON file, e.g. ``benchmarks/data/memory_ab_runs.json``.

The convention A/B (the default):

A workspace keeps its configuration files in ``src/settings/`` (a convention
the tasks do not state). First, with memory on, the learning tasks run: a
model that looks for ``app.ini`` at the top level fails once and then finds
it, and az-memory writes lessons from that transcript. Then each evaluation
task runs ``--repeat`` times with memory's context off and on (lesson writing
off in both, so evaluation tasks do not learn from each other). A task
passes when its answer contains the expected value. Printed: the lessons
learned, and per arm the pass rate, mean turns and mean tool calls.

Every task is a real ``az task run --json --approve auto`` in a subprocess,
with a fresh AZ_HOME for the whole run (rag's auto-index off, to measure
memory alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

LEARN = [
    "What port is set in app.ini? Find the file first.",
    "What user is set in db.ini? Find the file first.",
]
EVAL = [
    ("What is the database name in db.ini?", "orders"),
    ("What ttl is set in cache.ini?", "300"),
    ("What host is set in app.ini?", "0.0.0.0"),
]


def workspace(root: Path) -> Path:
    ws = root / "shop"
    (ws / "src" / "settings").mkdir(parents=True)
    (ws / "src" / "settings" / "app.ini").write_text("port = 8123\nhost = 0.0.0.0\n")
    (ws / "src" / "settings" / "db.ini").write_text("name = orders\nuser = shopkeeper\n")
    (ws / "src" / "settings" / "cache.ini").write_text("ttl = 300\n")
    (ws / "src" / "main.py").write_text("print('shop')\n")
    return ws


def run(
    desc: str, ws: Path, env: dict[str, str], model: str | None, timeout: float = 900.0
) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, "-m", "az_os.cli", "task", "run", desc, "--json", "--approve", "auto",
           "--workspace", str(ws)]  # fmt: skip
    if model:
        cmd += ["--model", model]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "result": "", "turns": 0, "tool_calls": 0,
                "error": f"did not finish within {timeout:g} s"}  # fmt: skip
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {"status": "crashed", "result": "", "turns": 0, "tool_calls": 0,
                "error": proc.stderr.strip().splitlines()[-1:]}  # fmt: skip


def lesson_uses(home: Path) -> tuple[int, int, int]:
    """(lessons, pending ones, sum of access counts) in the az home ``home``."""
    proc = subprocess.run(
        [sys.executable, "-m", "az_os.cli", "memory", "list", "--limit", "100000", "--json"],
        capture_output=True, text=True, env={**os.environ, "AZ_HOME": str(home)},
    )  # fmt: skip
    try:
        lessons = json.loads(proc.stdout or "[]")
    except ValueError:
        return 0, 0, 0
    return (len(lessons), sum(bool(x.get("pending")) for x in lessons),
            sum(int(x.get("access_count") or 0) for x in lessons))  # fmt: skip


def examples(args: argparse.Namespace) -> None:
    """The memory off/on A/B over the example tasks (see the module docstring)."""
    import agent_tasks  # beside this script
    import baseline

    paths = agent_tasks.task_paths(args.only)
    if not paths:
        sys.exit(f"no example task matches {args.only}")
    tmp = Path(tempfile.mkdtemp(prefix="az-memory-ab-"))
    home = tmp / "home"  # the memory-on arm's az home, shared by its tasks
    common = {"AZ_RAG__AUTO_INDEX": "false"}
    arms = {
        "off": {**common, "AZ_MEMORY__ENABLED": "false", "AZ_MEMORY__CONTEXT": "false"},
        "on": {**common, "AZ_MEMORY__ENABLED": "true", "AZ_MEMORY__CONTEXT": "true"},
    }
    before = baseline.measure() if args.record else None
    print(f"{len(paths)} tasks, model {args.model or 'default'}, memory home {home}", flush=True)
    if args.learn_first:
        for path in paths:
            r = agent_tasks.run_task(path, args.model, args.max_turns, home=home, env=arms["on"],
                                     timeout=args.timeout)  # fmt: skip
            print(f"learn {path.stem:<24} {'ok  ' if r['ok'] else 'FAIL'} {r['why'][:60]}",
                  flush=True)  # fmt: skip
    rows: list[dict] = []  # type: ignore[type-arg]
    uses = lesson_uses(home)[2] if args.learn_first else 0
    for n, path in enumerate(paths):
        row: dict = {"task": path.stem}  # type: ignore[type-arg]
        for arm in ("off", "on") if n % 2 == 0 else ("on", "off"):
            r = agent_tasks.run_task(
                path, args.model, args.max_turns, home=home if arm == "on" else None,
                env=arms[arm], timeout=args.timeout,
            )  # fmt: skip
            if arm == "on":
                count, queued, total = lesson_uses(home)
                r["recalled"], uses = total - uses, total
                r["lessons_after"], r["pending_after"] = count, queued
            row[arm] = r
        rows.append(row)
        if args.jsonl:
            with args.jsonl.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        off, on = row["off"], row["on"]
        print(
            f"{row['task']:<24} off {'ok  ' if off['ok'] else 'FAIL'} {off.get('turns', '-')!s:>2}t "
            f"{off['wall_s']:6.1f}s | on {'ok  ' if on['ok'] else 'FAIL'} {on.get('turns', '-')!s:>2}t "
            f"{on['wall_s']:6.1f}s  recalled {on['recalled']}  {(on['why'] or off['why'])[:50]}",
            flush=True,
        )  # fmt: skip
    summary = {arm: agent_tasks.summary([r[arm] for r in rows]) for arm in ("off", "on")}
    summary["on"]["recalled"] = uses
    flips = {
        "off_fail_on_ok": [r["task"] for r in rows if r["on"]["ok"] and not r["off"]["ok"]],
        "off_ok_on_fail": [r["task"] for r in rows if r["off"]["ok"] and not r["on"]["ok"]],
    }
    print(f"\n{'arm':<11} {'right':>7} {'turns':>6} {'tokens':>7} {'wall p50':>9}")
    for arm in ("off", "on"):
        s = summary[arm]
        print(f"memory {arm:<4} {s['ok']:>3}/{s['tasks']:<3} {s['mean_turns']:>6.2f} "
              f"{s['tokens']:>7} {s['wall_median_s']:>8.1f}s")  # fmt: skip
    print(f"lessons put into memory-on tasks' context: {uses}")
    print(f"right only with memory: {flips['off_fail_on_ok'] or 'none'}")
    print(f"right only without memory: {flips['off_ok_on_fail'] or 'none'}")
    if args.record:
        record(args.record, args.model or "default", rows, summary, flips, before, args.note)


def record(path: Path, model: str, rows: list[dict], summary: dict, flips: dict,  # type: ignore[type-arg]
           before: object, note: str) -> None:  # fmt: skip
    """Add this run to ``path`` (``{"runs": [...]}``, one run per model)."""
    from datetime import UTC, datetime

    import baseline

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    data = json.loads(path.read_text()) if path.exists() else {"runs": []}
    run = {
        "model": model, "commit": commit, "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": {"before": before, "after": baseline.measure(), "note": note},
        "summary": summary, "flips": flips, "rows": rows,
    }  # fmt: skip
    data["runs"] = [r for r in data["runs"] if r["model"] != model] + [run]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--model", default=None, help="model id (default: the routed default)")
    ap.add_argument("--examples", action="store_true",
                    help="A/B over the example tasks (examples/tasks/) instead")  # fmt: skip
    ap.add_argument("--only", nargs="*", help="--examples: task file name prefixes, e.g. 01 06")
    ap.add_argument("--max-turns", type=int, help="--examples: per task")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds per az task run before it counts as failed (default 900)")  # fmt: skip
    ap.add_argument("--learn-first", action="store_true",
                    help="--examples: run every task once in the memory-on home before the A/B "
                    "(an upper bound: the lessons recalled are then the same tasks' own, "
                    "answers included)")  # fmt: skip
    ap.add_argument("--jsonl", type=Path, help="--examples: append each task's row to this file")
    ap.add_argument("--record", type=Path, help="--examples: add the run to this JSON file")
    ap.add_argument("--note", default="", help="a machine note stored with --record")
    args = ap.parse_args()
    if args.examples:
        examples(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="az-memory-bench-"))
    ws = workspace(tmp)
    base = {**os.environ, "AZ_HOME": str(tmp / "home"), "AZ_RAG__AUTO_INDEX": "false"}
    for desc in LEARN:
        r = run(desc, ws, base, args.model, args.timeout)
        print(f"learn: {r.get('status')} in {r.get('turns')} turns: {desc}")
    lessons = subprocess.run([sys.executable, "-m", "az_os.cli", "memory", "list", "--json"],
                             capture_output=True, text=True, env=base).stdout  # fmt: skip
    learned = json.loads(lessons or "[]")
    print(f"{len(learned)} lessons learned:")
    for x in learned:
        print(f"  [{x['category']}] {x['lesson'][:160]}")
    rows = {}
    for arm, context in (("memory off", "false"), ("memory on", "true")):
        env = {**base, "AZ_MEMORY__CONTEXT": context, "AZ_MEMORY__ENABLED": "false"}
        results = []
        for desc, expected in EVAL:
            for _ in range(args.repeat):
                r = run(desc, ws, env, args.model, args.timeout)
                ok = expected.lower() in str(r.get("result") or "").lower()
                results.append((ok, r.get("turns") or 0, r.get("tool_calls") or 0))
        rows[arm] = results
    print(f"\n{len(EVAL)} tasks x {args.repeat} runs per arm")
    print(f"{'arm':<11} {'passed':>7} {'turns':>6} {'tool calls':>11}")
    for arm, results in rows.items():
        passed = sum(ok for ok, _, _ in results)
        print(f"{arm:<11} {passed:>3}/{len(results):<3} {mean(t for _, t, _ in results):>6.2f} "
              f"{mean(c for _, _, c in results):>11.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
