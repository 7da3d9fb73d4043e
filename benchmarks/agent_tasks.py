"""Runs the example tasks in examples/tasks/ through `az task run` and checks them.

For each task: a fresh temp workspace with the task's files, a fresh AZ_HOME
(so records do not mix), `az task run DESCRIPTION --json --approve auto
--workspace WS [--model M]`, then the task's check on the answer or the
workspace. Prints one row per task (ok, turns, tool calls, tokens, USD, wall
seconds) and a summary (success rate, mean turns, total tokens and USD,
wall seconds per task: median and p90).

--record FILE stores the run (model, commit, date, the machine yardsticks of
benchmarks/baseline.py before and after, summary, rows) in a JSON file, one
run per model: benchmarks/data/agent_tasks_runs.json is the recorded local
workload that benchmarks/routing.py --local-runs replays.

    python benchmarks/agent_tasks.py [--model M] [--only PREFIX ...] [--max-turns N] [--json]
        [--timeout S] [--jsonl FILE] [--record FILE [--note TEXT]]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import baseline  # benchmarks/baseline.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "examples" / "tasks"
#: Seconds one `az task run` may take before the task counts as failed.
TIMEOUT = 900


def check(spec: dict[str, Any], answer: str, ws: Path) -> tuple[bool, str]:
    """(passed, why) for a task's [check] table."""
    c = spec.get("check", {})
    low = answer.lower()
    if "answer_number" in c:
        # the first whole number in the answer: "13 files" does not pass for 3
        # (a substring check did), nor does a guess that lists several numbers
        numbers = re.findall(r"(?<![\w.])-?\d+(?![\w.]\d)", answer)
        if not numbers or int(numbers[0]) != int(c["answer_number"]):
            return False, f"answer's first number is not {c['answer_number']}"
    if "answer_contains_any" in c and not any(s.lower() in low for s in c["answer_contains_any"]):
        return False, f"answer lacks any of {c['answer_contains_any']}"
    if "answer_contains_all" in c and not all(s.lower() in low for s in c["answer_contains_all"]):
        return False, f"answer lacks one of {c['answer_contains_all']}"
    if "answer_contains_output_of" in c:
        proc = subprocess.run(
            c["answer_contains_output_of"], cwd=ws, capture_output=True, text=True
        )
        expected = proc.stdout.strip()
        if not expected or expected.lower() not in low:
            return False, f"answer lacks {expected!r}"
    if "file" in c:
        path = ws / c["file"]
        if not path.is_file():
            return False, f"{c['file']} was not created"
        text = path.read_text(errors="replace")
        if "file_contains" in c and c["file_contains"] not in text:
            return False, f"{c['file']} lacks {c['file_contains']!r}"
        if "file_contains_all" in c and not all(s in text for s in c["file_contains_all"]):
            return False, f"{c['file']} lacks one of {c['file_contains_all']}"
        if "json_equals" in c:
            try:
                if json.loads(text) != c["json_equals"]:
                    return False, f"{c['file']} is not {c['json_equals']}"
            except ValueError:
                return False, f"{c['file']} is not JSON"
    if "command" in c:
        proc = subprocess.run(c["command"], cwd=ws, capture_output=True, text=True)
        if proc.returncode != 0:
            return False, f"check command failed: {proc.stderr.strip()[-200:]}"
    return True, ""


def prepare(spec: dict[str, Any], ws: Path) -> subprocess.Popen[bytes] | None:
    """Fill the empty workspace ``ws`` with a task's files and setup; start
    its background command, if any (the caller stops it)."""
    for name, content in spec.get("files", {}).items():
        f = ws / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(content)
    for command in spec.get("setup", []):
        subprocess.run(command, cwd=ws, check=True, capture_output=True)
    return subprocess.Popen(spec["background"]) if spec.get("background") else None


def task_paths(only: list[str] | None = None) -> list[Path]:
    """The example task files, sorted; ``only``: file name prefixes."""
    paths = sorted(TASKS.glob("*.toml"))
    if only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in only)]
    return paths


def run_task(
    path: Path,
    model: str | None,
    max_turns: int | None,
    *,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> dict[str, Any]:
    """Run one example task and check it. ``home``: the AZ_HOME to use (a
    fresh one per task when None); ``env``: extra environment variables;
    ``timeout``: seconds before the task counts as failed (its process is killed)."""
    spec = tomllib.loads(path.read_text())
    with tempfile.TemporaryDirectory(prefix="az-task-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        bg = prepare(spec, ws)
        env = {**os.environ, "AZ_HOME": str(home or Path(tmp) / "home"), **(env or {})}
        cmd = [
            sys.executable,
            "-m",
            "az_os.cli",
            "task",
            "run",
            spec["description"],
            "--json",
            "--approve",
            "auto",
            "--workspace",
            str(ws),
        ]
        if model:
            cmd += ["--model", model]
        if max_turns:
            cmd += ["--max-turns", str(max_turns)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {
                "task": path.stem,
                "ok": False,
                "why": f"az task run did not finish within {timeout:g} s",
                "status": "timeout",
                "model": model,
                "wall_s": time.perf_counter() - start,
            }
        finally:
            if bg:
                bg.kill()
                bg.wait()
        wall = time.perf_counter() - start
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            return {
                "task": path.stem,
                "ok": False,
                "why": f"az exited {proc.returncode}: {proc.stderr.strip()[-200:]}",
                "wall_s": wall,
            }
        ok, why = (
            check(spec, out.get("result") or "", ws)
            if out["status"] == "completed"
            else (False, out.get("error") or out["status"])
        )
        if ok and not out["tool_calls"]:
            # every example needs something from the workspace: an answer
            # given without looking is a guess, even when it happens to match
            ok, why = False, "answered without calling a tool"
        return {
            "task": path.stem,
            "ok": ok,
            "why": why,
            "status": out["status"],
            "turns": out["turns"],
            "tool_calls": out["tool_calls"],
            "tokens": out["prompt_tokens"] + out["completion_tokens"],
            "prompt_tokens": out["prompt_tokens"],
            "completion_tokens": out["completion_tokens"],
            "cost_usd": out["cost_usd"],
            "model": out["model"],
            "answer": (out.get("result") or "")[:80],
            "wall_s": wall,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model id or alias (default: az's default)")
    parser.add_argument("--only", nargs="*", help="task file name prefixes, e.g. 01 06")
    parser.add_argument("--max-turns", type=int)
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT, help=f"seconds per task (default {TIMEOUT})"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--jsonl", type=Path, help="also append each row to this JSON-lines file as it finishes"
    )
    parser.add_argument(
        "--record",
        type=Path,
        help="add this run (model, commit, date, machine yardsticks, summary, rows) to this JSON "
        "file, e.g. benchmarks/data/agent_tasks_runs.json, replacing an earlier run of the model",
    )
    parser.add_argument("--note", default="", help="a machine note stored with --record")
    args = parser.parse_args()
    paths = task_paths(args.only)
    before = baseline.measure() if args.record else None
    rows = []
    for p in paths:
        row = run_task(p, args.model, args.max_turns, timeout=args.timeout)
        rows.append(row)
        if args.jsonl:
            with args.jsonl.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        if not args.json:
            mark = "ok  " if row["ok"] else "FAIL"
            print(
                f"{mark} {row['task']:<24} turns {row.get('turns', '-')!s:>2}  tools {row.get('tool_calls', '-')!s:>2}  "
                f"tokens {row.get('tokens', 0):>6}  ${row.get('cost_usd', 0):.4f}  {row['wall_s']:6.1f}s  "
                f"{row['why'][:70]}",
                flush=True,
            )
    model = next((r["model"] for r in rows if r.get("model")), args.model or "default")
    if args.record:
        record(args.record, model, rows, before, args.note)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    s = summary(rows)
    print(
        f"\n{s['ok']}/{s['tasks']} tasks passed ({100 * s['success']:.0f}%), mean turns "
        f"{s['mean_turns']:.1f}, tokens {s['tokens']}, USD {s['cost_usd']:.4f}, wall "
        f"{s['wall_total_s']:.0f} s (per task median {s['wall_median_s']:.1f} s, p90 "
        f"{s['wall_p90_s']:.1f} s), model {model}"
    )


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Success, turns, tokens, USD and wall time (s: total, per-task median
    and p90, nearest rank) of a run's rows."""
    walls = [r["wall_s"] for r in rows]
    turns = [r["turns"] for r in rows if "turns" in r]
    ok = sum(r["ok"] for r in rows)
    return {
        "tasks": len(rows),
        "ok": ok,
        "success": ok / max(len(rows), 1),
        "mean_turns": sum(turns) / max(len(turns), 1),
        "tokens": sum(r.get("tokens", 0) for r in rows),
        "cost_usd": sum(r.get("cost_usd", 0) for r in rows),
        "wall_total_s": round(sum(walls), 1),
        "wall_median_s": round(statistics.median(walls), 1) if walls else 0.0,
        "wall_p90_s": round(percentile(walls, 0.9), 1),
    }


def record(path: Path, model: str, rows: list[dict[str, Any]], before: Any, note: str = "") -> None:
    """Store a run in ``path`` (a JSON object ``{"runs": [...]}``), one run
    per model id: the model, az's commit, the UTC date, the machine's
    yardsticks before and after (benchmarks/baseline.py), a note, the
    summary and the rows."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    data = json.loads(path.read_text()) if path.exists() else {"runs": []}
    run = {
        "model": model,
        "commit": commit,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": {"before": before, "after": baseline.measure(), "note": note},
        "summary": summary(rows),
        "rows": rows,
    }
    data["runs"] = [r for r in data["runs"] if r["model"] != model] + [run]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
