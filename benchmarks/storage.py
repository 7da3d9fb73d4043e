"""Storage benchmark: az-sqlite with 100,000 tasks and 1,000,000 log rows.

Measures what issue 3 asks for and prints one table:

* creating tasks one transaction each, and in bulk (rows/s);
* adding log rows in bulk (rows/s);
* the repository call ``list_tasks(limit=20)`` alone, unfiltered and with a
  status filter (p50/p95 ms over many calls; target p50 < 10 ms);
* ``az task list --limit 20`` end to end, a fresh ``az`` process each time
  (p50/p95 ms; target < 200 ms), and ``az --help`` as the CLI's floor;
* ``az task show`` on a task with 50 turns, end to end and the repository
  calls alone (``get_task`` + ``list_turns``);
* file size per 1,000 tasks (bytes, after a WAL checkpoint) and per log row.

Run: ``python benchmarks/storage.py`` (full size, a few minutes) or
``python benchmarks/storage.py --small`` (10,000 tasks, 100,000 log rows).
Needs ``az-os`` and ``az-sqlite`` installed in the running interpreter.
The database goes to a temporary directory (``--keep DIR`` to keep it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _timed(fn: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _cli(home: Path, args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall time and CPU time (user + sys of the child, which other load on
    the machine disturbs less) of ``az ARGS``, in ms, one fresh process per run."""
    import resource

    env = dict(os.environ, AZ_HOME=str(home), COLUMNS="160")
    # Byte-compiled modules are cached as in any normal install, even where
    # the environment turns that off; the warm-up run writes the caches.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "az_os.cli", *args]
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm caches
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True)
        wall.append((time.perf_counter() - t) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000)
        if proc.returncode != 0:
            raise SystemExit(f"az {' '.join(args)} failed: {proc.stderr.decode()[-500:]}")
    return wall, cpu


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="10,000 tasks and 100,000 log rows")
    ap.add_argument("--tasks", type=int, help="number of tasks (default 100,000)")
    ap.add_argument("--logs", type=int, help="number of log rows (default 1,000,000)")
    ap.add_argument("--single", type=int, default=3000, help="tasks created one transaction each")
    ap.add_argument("--cli-runs", type=int, default=15, help="az processes per CLI measurement")
    ap.add_argument("--keep", type=Path, help="build the database in this directory and keep it")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    n_tasks = args.tasks or (10_000 if args.small else 100_000)
    n_logs = args.logs if args.logs is not None else (100_000 if args.small else 1_000_000)
    single = min(args.single, n_tasks)

    from az_os.types import (
        LogRecord,
        Message,
        Task,
        TaskPriority,
        TaskStatus,
        ToolCall,
        ToolResult,
        Turn,
        Usage,
    )
    from az_sqlite.storage import SQLiteStorage

    tmp = None
    if args.keep:
        home = args.keep
        home.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="az-bench-")
        home = Path(tmp.name)
    path = home / "az.db"
    if path.exists():
        raise SystemExit(f"{path} exists; give --keep an empty directory")
    storage = SQLiteStorage(path=path)
    rnd = random.Random(42)
    statuses = [TaskStatus.COMPLETED] * 6 + [
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.PENDING,
    ]
    priorities = list(TaskPriority)
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def make(i: int) -> Task:
        return Task(
            description=f"benchmark task {i}: refactor module_{i % 997}.py and add tests for it",
            model=rnd.choice(
                ["local/smollm2-135m-instruct", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
            ),
            status=rnd.choice(statuses),
            priority=rnd.choice(priorities),
            created_at=start + timedelta(seconds=i * 30),
            started_at=start + timedelta(seconds=i * 30 + 1),
            completed_at=start + timedelta(seconds=i * 30 + 20),
            result="done: 3 files changed, 12 tests pass",
            prompt_tokens=rnd.randint(500, 20000),
            completion_tokens=rnd.randint(50, 2000),
            cost_usd=rnd.random() / 100,
            workspace=f"/home/user/projects/p{i % 50}",
        )

    results: dict[str, Any] = {"tasks": n_tasks, "log_rows": n_logs}

    t = time.perf_counter()
    for i in range(single):
        storage.create_task(make(i))
    results["create_single_rows_per_s"] = single / (time.perf_counter() - t)

    bulk = [make(i) for i in range(single, n_tasks)]
    t = time.perf_counter()
    for i in range(0, len(bulk), 10_000):
        storage.create_tasks(bulk[i : i + 10_000])
    results["create_bulk_rows_per_s"] = len(bulk) / (time.perf_counter() - t) if bulk else 0.0
    storage.checkpoint()
    results["bytes_per_1000_tasks"] = _db_bytes(path) / n_tasks * 1000

    # A task with 50 turns (each: an assistant message with a tool call, its result).
    target = make(n_tasks)
    target.created_at = start - timedelta(days=1)  # not on the first page
    storage.create_task(target)
    for k in range(1, 51):
        call = ToolCall(name="filesystem.read", arguments={"path": f"src/module_{k}.py"})
        storage.add_turn(
            Turn(
                task_id=target.id,
                index=k,
                model="openai/gpt-4o-mini",
                messages=[
                    Message(
                        role="assistant", content=f"Step {k}: read the module.", tool_calls=[call]
                    ),
                    Message(
                        role="tool", tool_call_id=call.id, content="def f():\n    return 1\n" * 20
                    ),
                ],
                tool_calls=[call],
                tool_results=[
                    ToolResult(
                        success=True, result="def f():\n    return 1\n" * 20, duration_ms=1.2
                    )
                ],
                usage=Usage(prompt_tokens=1500, completion_tokens=60, cost_usd=0.0003),
                model_duration_ms=800,
                tools_duration_ms=1.2,
            )
        )

    size_before_logs = _db_bytes(path)
    ids = [t.id for t in storage.list_tasks(limit=5000)]
    levels = ["debug", "info", "info", "info", "warning", "error"]
    t_logs = 0.0
    for i in range(0, n_logs, 20_000):
        chunk = [
            LogRecord(
                task_id=rnd.choice(ids),
                level=rnd.choice(levels),  # type: ignore[arg-type]
                message=f"turn {j % 5 + 1}: tool call filesystem.read finished in {j % 300} ms",
                timestamp=start + timedelta(seconds=j * 3),
            )
            for j in range(i, min(i + 20_000, n_logs))
        ]
        t = time.perf_counter()
        storage.add_logs(chunk)
        t_logs += time.perf_counter() - t
    results["logs_bulk_rows_per_s"] = n_logs / t_logs if n_logs else 0.0
    storage.checkpoint()
    results["bytes_per_log_row"] = (_db_bytes(path) - size_before_logs) / n_logs if n_logs else 0.0
    results["db_bytes"] = _db_bytes(path)

    lst = _timed(lambda: storage.list_tasks(limit=20), 300)
    lst_status = _timed(lambda: storage.list_tasks(status=TaskStatus.FAILED, limit=20), 300)
    lst_deep = _timed(lambda: storage.list_tasks(limit=20, offset=5000), 100)
    show_repo = _timed(lambda: (storage.get_task(target.id), storage.list_turns(target.id)), 100)
    logs_recent = _timed(lambda: storage.list_logs(level="warning", limit=100), 50)
    storage.close()

    cli_help = _cli(home, ["--help"], args.cli_runs)
    cli_list = _cli(home, ["task", "list", "--limit", "20"], args.cli_runs)
    cli_list_json = _cli(home, ["task", "list", "--limit", "20", "--json"], args.cli_runs)
    cli_show = _cli(home, ["task", "show", target.id], args.cli_runs)

    for name, (wall, cpu) in [
        ("cli_az_help", cli_help),
        ("cli_task_list_limit20", cli_list),
        ("cli_task_list_limit20_json", cli_list_json),
        ("cli_task_show_50_turns", cli_show),
    ]:
        results[name] = {
            "p50_ms": statistics.median(wall),
            "p95_ms": _pct(wall, 95),
            "cpu_p50_ms": statistics.median(cpu),
            "runs": len(wall),
        }
    for name, samples in [
        ("repo_list_tasks_limit20", lst),
        ("repo_list_tasks_status_limit20", lst_status),
        ("repo_list_tasks_offset5000", lst_deep),
        ("repo_show_50_turns", show_repo),
        ("repo_list_logs_warning_limit100", logs_recent),
    ]:
        results[name] = {
            "p50_ms": statistics.median(samples),
            "p95_ms": _pct(samples, 95),
            "runs": len(samples),
        }

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)
    if tmp:
        tmp.cleanup()
    return results


def _print(r: dict[str, Any]) -> None:
    print(
        f"az-sqlite storage benchmark: {r['tasks']:,} tasks, {r['log_rows']:,} log rows "
        f"(database {r['db_bytes'] / 1e6:,.1f} MB)"
    )
    print(f"{'measurement':<46}{'value':>22}")
    print("-" * 68)
    rows = [
        ("create task, one transaction each", f"{r['create_single_rows_per_s']:,.0f} rows/s"),
        (
            "create tasks in bulk (10,000 per transaction)",
            f"{r['create_bulk_rows_per_s']:,.0f} rows/s",
        ),
        (
            "add log rows in bulk (20,000 per transaction)",
            f"{r['logs_bulk_rows_per_s']:,.0f} rows/s",
        ),
        ("file size per 1,000 tasks", f"{r['bytes_per_1000_tasks'] / 1024:,.0f} KiB"),
        ("file size per log row", f"{r['bytes_per_log_row']:,.0f} bytes"),
    ]
    for label, value in rows:
        print(f"{label:<46}{value:>22}")
    print(f"{'':<46}{'p50 ms':>11}{'p95 ms':>11}{'cpu p50 ms':>12}")
    for key, label in [
        ("repo_list_tasks_limit20", "repository list_tasks(limit=20)"),
        ("repo_list_tasks_status_limit20", "repository list_tasks(status, limit=20)"),
        ("repo_list_tasks_offset5000", "repository list_tasks(limit=20, offset=5000)"),
        ("repo_show_50_turns", "repository get_task + list_turns (50)"),
        ("repo_list_logs_warning_limit100", "repository list_logs(warning, limit=100)"),
        ("cli_az_help", "az --help (CLI floor)"),
        ("cli_task_list_limit20", "az task list --limit 20"),
        ("cli_task_list_limit20_json", "az task list --limit 20 --json"),
        ("cli_task_show_50_turns", "az task show (50 turns)"),
    ]:
        m = r[key]
        cpu = f"{m['cpu_p50_ms']:>12.0f}" if "cpu_p50_ms" in m else ""
        print(f"{label:<46}{m['p50_ms']:>11.2f}{m['p95_ms']:>11.2f}{cpu}")
    print(
        "(cpu: user + sys time of the az process; wall time grows with other load on the machine)"
    )


if __name__ == "__main__":
    main()
