"""az serve under load, on loopback only, bounded in time and size.

Starts the real server (``az serve`` in a subprocess, uvicorn, a real SQLite
file under a temporary az home) with the scripted model plugin (every task
answers at once: one model call, one turn), then measures:

* 200 task submissions sent at once (one HTTP connection each, httpx):
  submit latency p50/p95 (ms, request to 202), errors (non-202 answers),
  tasks/s from the first submission to the last task completed, and lost
  tasks (submitted but not completed in storage);
* ``GET /api/tasks?limit=20`` p50/p95 with 100,000 tasks stored (filled in
  bulk through the storage backend, then the server restarted);
* ``az health --json`` end to end (process start to exit; wall and CPU
  time, user + system, since a shared machine's load inflates the wall
  time) with every check local: only telemetry and sqlite loaded, then
  every installed plugin (no API keys: hosted providers are not probed).

Run: ``python benchmarks/server.py`` (``--tasks``, ``--stored``, ``--runs`` to change sizes).
Targets (issue 17): 0 errors, 0 lost, p95 submit < 50 ms; list p50 < 20 ms; az health < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def _site(tmp: Path) -> Path:
    """A site dir declaring the scripted model plugin (as az_os.testing.scripted_site)."""
    from az_os.testing import scripted_site

    return scripted_site(tmp / "site")


def _env(home: Path, site: Path, plugins: str | None) -> dict[str, str]:
    # bytecode caches as an installed az has them (pip writes them at install time)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AZ_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        {
            "AZ_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
    )
    if plugins is not None:
        env["AZ_LOAD_PLUGINS"] = plugins
    return env


class _Server:
    def __init__(self, env: dict[str, str], concurrency: int, queue: int) -> None:
        env = {**env, "AZ_SERVER__QUEUE_SIZE": str(queue), "PYTHONUNBUFFERED": "1"}
        self.log = Path(env["AZ_HOME"]) / f"server-{time.monotonic_ns()}.log"
        cmd = [sys.executable, "-m", "az_os.cli", "serve", "--port", "0"]
        with self.log.open("w") as err:  # a file, not a pipe nobody reads (it would fill)
            self.proc = subprocess.Popen(
                [*cmd, "--concurrency", str(concurrency)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        self.url = ""
        deadline = time.monotonic() + 120
        while not self.url:
            text = self.log.read_text()
            if "serving on " in text:
                self.url = text.split("serving on ", 1)[1].split()[0]
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {text[-2000:]}")
            else:
                time.sleep(0.05)
        self.token = subprocess.run(
            [sys.executable, "-m", "az_os.cli", "serve", "token"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


async def _submit_all(
    url: str, token: str, n: int
) -> tuple[list[float], list[str], list[str], float]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:
        # warm up one connection's worth of code paths (first request imports lazily)
        await c.get("/api/tasks", params={"limit": 1})

        async def one(i: int) -> tuple[float, int, str]:
            t = time.perf_counter()
            try:
                r = await c.post("/api/tasks", json={"description": f"benchmark task {i}"})
            except httpx.HTTPError as exc:  # a refused or reset connection is an error too
                return (time.perf_counter() - t) * 1000, 0, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - t) * 1000
            return ms, r.status_code, r.json().get("id", "") if r.status_code == 202 else r.text

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))
    lat = [ms for ms, _, _ in results]
    ids = [x for _, code, x in results if code == 202]
    errors = [f"{code}: {x[:100]}" for _, code, x in results if code != 202]
    return lat, ids, errors, start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=200, help="concurrent submissions (default 200)")
    ap.add_argument("--stored", type=int, default=100_000, help="tasks stored for the list test")
    ap.add_argument("--runs", type=int, default=7, help="az health processes per measurement")
    ap.add_argument("--concurrency", type=int, default=8, help="server.concurrency")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    import httpx

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="az-bench-server-") as tmp_:
        tmp = Path(tmp_)
        site = _site(tmp)
        home = tmp / "home"
        home.mkdir()
        env = _env(home, site, "scripted,sqlite,server,telemetry")

        # -- 200 concurrent submissions ---------------------------------------
        server = _Server(env, args.concurrency, queue=args.tasks * 2)
        try:
            lat, ids, errors, start = asyncio.run(_submit_all(server.url, server.token, args.tasks))
            headers = {"Authorization": f"Bearer {server.token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                deadline = time.monotonic() + 300
                while True:
                    done = c.get("/api/tasks", params={"status": "completed", "limit": 1}).json()[
                        "total"
                    ]
                    if done >= len(ids) or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                elapsed = time.perf_counter() - start
                statuses = {}
                for tid in ids:
                    st = c.get(f"/api/tasks/{tid}").json()["status"]
                    statuses[st] = statuses.get(st, 0) + 1
        finally:
            server.stop()
        results.update(
            submissions=args.tasks,
            submit_p50_ms=_pct(lat, 50),
            submit_p95_ms=_pct(lat, 95),
            submit_max_ms=max(lat),
            errors=len(errors),
            error_samples=errors[:3],
            completed=statuses.get("completed", 0),
            lost=len(ids) - statuses.get("completed", 0),
            tasks_per_s=len(ids) / elapsed,
            concurrency=args.concurrency,
        )

        # -- GET /api/tasks with many stored tasks -------------------------------
        from az_os.types import Task, TaskPriority, TaskStatus
        from az_sqlite.storage import SQLiteStorage

        storage = SQLiteStorage(path=home / "az.db")
        base = datetime(2026, 1, 1, tzinfo=UTC)
        statuses_cycle = [TaskStatus.COMPLETED] * 6 + [TaskStatus.FAILED, TaskStatus.CANCELLED]
        prios = list(TaskPriority)
        batch: list[Task] = []
        for i in range(args.stored):
            batch.append(
                Task(
                    description=f"stored task {i}: refactor module_{i % 997}.py",
                    status=statuses_cycle[i % len(statuses_cycle)],
                    priority=prios[i % len(prios)],
                    created_at=base + timedelta(seconds=i * 30),
                    model="scripted/cheap",
                )
            )
            if len(batch) == 10_000:
                storage.create_tasks(batch)
                batch = []
        if batch:
            storage.create_tasks(batch)
        storage.close()
        server = _Server(env, args.concurrency, queue=100)
        try:
            headers = {"Authorization": f"Bearer {server.token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                samples = {"all": [], "status=failed": []}
                for _ in range(10):
                    c.get("/api/tasks", params={"limit": 20})
                for _ in range(100):
                    for key, params in (("all", {}), ("status=failed", {"status": "failed"})):
                        t = time.perf_counter()
                        r = c.get("/api/tasks", params={"limit": 20, **params})
                        samples[key].append((time.perf_counter() - t) * 1000)
                        assert r.status_code == 200 and len(r.json()["tasks"]) == 20
                total = c.get("/api/tasks", params={"limit": 1}).json()["total"]
        finally:
            server.stop()
        results.update(
            stored_tasks=total,
            list_p50_ms=_pct(samples["all"], 50),
            list_p95_ms=_pct(samples["all"], 95),
            list_failed_p50_ms=_pct(samples["status=failed"], 50),
        )

        # -- az health end to end --------------------------------------------------
        for label, plugins in (("telemetry_sqlite", "telemetry,sqlite"), ("all_plugins", None)):
            henv = _env(home, site, plugins)
            henv.pop("PYTHONPATH", None)  # no scripted plugin: only real providers
            times = []
            cpu = []
            codes = set()
            subprocess.run(  # warm-up: writes the bytecode caches
                [sys.executable, "-m", "az_os.cli", "health", "--json"],
                env=henv,
                capture_output=True,
            )
            for _ in range(args.runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                p = subprocess.run(
                    [sys.executable, "-m", "az_os.cli", "health", "--json"],
                    env=henv, capture_output=True, text=True,
                )  # fmt: skip
                times.append((time.perf_counter() - t) * 1000)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(
                    (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
                )
                codes.add(p.returncode)
                checks = [c["name"] for c in json.loads(p.stdout)["checks"]]
            results[f"health_{label}_median_ms"] = statistics.median(times)
            results[f"health_{label}_cpu_median_ms"] = statistics.median(cpu)
            results[f"health_{label}_checks"] = checks
            results[f"health_{label}_exit_codes"] = sorted(codes)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)
    return results


def _print(r: dict[str, Any]) -> None:
    print(f"{r['submissions']} concurrent submissions (server.concurrency {r['concurrency']}):")
    print(
        f"  submit latency p50 {r['submit_p50_ms']:.1f} ms, p95 {r['submit_p95_ms']:.1f} ms, "
        f"max {r['submit_max_ms']:.1f} ms"
    )
    print(
        f"  errors {r['errors']} {r['error_samples'] or ''}, lost {r['lost']}, completed {r['completed']}"
    )
    print(f"  {r['tasks_per_s']:.1f} tasks/s from first submission to last completion")
    print(f"GET /api/tasks?limit=20 with {r['stored_tasks']:,} tasks stored:")
    print(
        f"  p50 {r['list_p50_ms']:.2f} ms, p95 {r['list_p95_ms']:.2f} ms; "
        f"?status=failed p50 {r['list_failed_p50_ms']:.2f} ms"
    )
    for label in ("telemetry_sqlite", "all_plugins"):
        print(
            f"az health --json ({label.replace('_', ' + ' if label.startswith('tel') else ' ')}): "
            f"median {r[f'health_{label}_median_ms']:.0f} ms "
            f"(CPU {r[f'health_{label}_cpu_median_ms']:.0f} ms), "
            f"{len(r[f'health_{label}_checks'])} checks, exit codes {r[f'health_{label}_exit_codes']}"
        )


if __name__ == "__main__":
    main()
