"""Does az-memory help? An A/B on the local default model, reported as measured.

    python benchmarks/memory.py [--repeat N] [--model M]

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


def run(desc: str, ws: Path, env: dict[str, str], model: str | None) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, "-m", "az_os.cli", "task", "run", desc, "--json", "--approve", "auto",
           "--workspace", str(ws)]  # fmt: skip
    if model:
        cmd += ["--model", model]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {"status": "crashed", "result": "", "turns": 0, "tool_calls": 0,
                "error": proc.stderr.strip().splitlines()[-1:]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--model", default=None, help="model id (default: the routed default)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="az-memory-bench-"))
    ws = workspace(tmp)
    base = {**os.environ, "AZ_HOME": str(tmp / "home"), "AZ_RAG__AUTO_INDEX": "false"}
    for desc in LEARN:
        r = run(desc, ws, base, args.model)
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
                r = run(desc, ws, env, args.model)
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
