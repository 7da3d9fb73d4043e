"""Throughput of distributed execution (az-celery) with 1, 2 and 4 workers.

    python benchmarks/distributed.py [--tasks 96] [--workers 1,2,4] [--concurrency 8]

Starts its own Redis and PostgreSQL on free loopback ports (Debian's
redis-server and postgresql), then for each worker count starts that many
`az worker start --concurrency 8` processes, waits until every worker
answers a ping, runs one warm-up task per worker thread (each loads the
engine and plugins once), then queues the tasks and times from the first
submit until every task is completed. Each task is one model
call on the scripted model that waits 200 ms (standing in for a hosted API:
I/O bound), then answers. Prints tasks/s per worker count and the scaling
ratio from 1 worker to the largest count (target: >= 3.5x from 1 to 4).

Numbers depend on the cores available: each task also costs the worker
CPU (engine, hooks, a dozen database writes), so on a 2-core machine the
workers compete for the CPU long before they run out of queued work.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def submit(storage: Any, app: Any, n: int, ws: str, wait: bool) -> list[str]:
    """Store and queue ``n`` tasks (as ``az task submit`` does); with
    ``wait``, return once they are all completed."""
    from az_os.types import Task, TaskStatus

    ids = []
    for i in range(n):
        t = Task(
            description=f"bench {i}",
            model="scripted/cheap",
            status=TaskStatus.PENDING,
            workspace=ws,
            approval="auto",
        )
        storage.create_task(t)
        storage.save_state(t.id, {"model_fixed": True, "tools": None})
        app.send_task("az.run_task", args=[t.id], queue="az.medium")
        ids.append(t.id)
    if wait:
        wait_done(storage, storage.count_tasks())
    return ids


def wait_done(storage: Any, total: int) -> None:
    """Until ``total`` tasks are completed or failed: two COUNT queries every
    0.1 s, so watching costs the database (and the CPU) next to nothing."""
    while storage.count_tasks(status="completed") + storage.count_tasks(status="failed") < total:
        time.sleep(0.1)


def run(n_workers: int, n_tasks: int, concurrency: int, env: dict[str, str], dsn: str) -> float:
    from az_celery.worker import make_app
    from az_os.config import load_config
    from az_postgres.storage import PostgresStorage

    storage = PostgresStorage(dsn=dsn)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "az_os.cli", "worker", "start", "-c", str(concurrency)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n_workers)
    ]
    try:
        app = make_app(load_config())
        deadline = time.time() + 120
        while len(app.control.ping(timeout=1.0) or []) < n_workers:  # every worker is up
            if time.time() > deadline:
                raise SystemExit("the workers did not start")
        ws = tempfile.mkdtemp()
        # warm-up (not timed): each worker thread loads the engine and plugins once
        submit(storage, app, n_workers * concurrency, ws, wait=True)
        start = time.perf_counter()
        ids = submit(storage, app, n_tasks, ws, wait=False)
        wait_done(storage, storage.count_tasks())
        elapsed = time.perf_counter() - start
        failed = sum(1 for i in ids if storage.get_task(i).status.value != "completed")
        if failed:
            print(f"  warning: {failed} tasks did not complete", file=sys.stderr)
        return n_tasks / elapsed
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=96)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.2, help="model call wait, seconds")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from az_os.testing import scripted_site
    from az_os.testservers import postgres_server, redis_server

    counts = [int(n) for n in args.workers.split(",")]
    root = Path(tempfile.mkdtemp(prefix="az-bench-"))
    site = scripted_site(root / "site")
    script = root / "script.json"
    steps = args.tasks + max(counts) * args.concurrency  # the timed tasks and the warm-up
    script.write_text(json.dumps([{"sleep": args.sleep, "answer": "ok"}] * steps))
    results: dict[int, float] = {}
    with redis_server() as broker, postgres_server() as pg:
        for n in counts:
            dsn = pg.create_database()
            home = root / f"home-{n}"
            home.mkdir()
            env = {
                "AZ_HOME": str(home),
                "AZ_LOAD_PLUGINS": "scripted,postgres,celery",
                "AZ_SCRIPT": str(script),
                "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
                "AZ_STORAGE__BACKEND": "postgres",
                "AZ_STORAGE__DSN": dsn,
                "AZ_CELERY__BROKER_URL": broker,
            }
            os.environ.update({k: v for k, v in env.items() if k.startswith("AZ_")})
            from az_os import drivers

            drivers.close_all()
            results[n] = run(n, args.tasks, args.concurrency, env, dsn)
            print(f"{n} worker(s) x {args.concurrency}: {results[n]:6.1f} tasks/s", flush=True)
    lo, hi = min(counts), max(counts)
    print(
        f"scaling {lo} -> {hi} workers: {results[hi] / results[lo]:.2f}x "
        f"(target >= 3.5x from 1 to 4; {os.cpu_count()} CPUs; "
        f"model call {args.sleep * 1000:.0f} ms; {args.tasks} tasks per run)"
    )


if __name__ == "__main__":
    main()
