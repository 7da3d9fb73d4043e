"""Throughput of distributed execution (az-celery) with 1, 2 and 4 workers,
on tasks whose model calls go over HTTP to a model server with a fixed latency.

    python benchmarks/distributed.py [--tasks 128] [--workers 1,2,4] [--concurrency 8]
                                     [--latency-ms 1000]

What a scale-out deployment runs: the model is remote (a hosted API or a
model server on another host), so a task spends its time waiting on HTTP.
The benchmark starts, all on free loopback ports:

* Redis (the broker) and PostgreSQL (the shared storage), Debian's
  ``redis-server`` and ``postgresql``;
* ``benchmarks/replay_model_server.py``: a real OpenAI-compatible HTTP
  server (uvicorn) that answers each request after ``--latency-ms``,
  replaying a ReAct run: first a ``filesystem.list`` tool call, then, once
  the request carries the tool result, a final answer;
* for each worker count, that many ``az worker start --concurrency N``
  processes with the plugins a worker host has (az-litellm, az-tools,
  az-cost, az-postgres, az-celery). The model is a ``[[models.custom]]``
  entry (``openai/replay``, ``api_base`` = the server), so every model call
  goes through az-litellm's normal provider path (LiteLLM's OpenAI client).

Each task: claim, two model calls (tool call, answer), one real tool call on
its workspace, turns/costs/logs in PostgreSQL. The timed part starts at the
first submit and ends when every task is completed (the workers are up and
warmed first: one untimed task per worker thread). Prints tasks/s per worker
count, the scaling ratio from 1 worker to the largest count (target: >= 3.5x
from 1 to 4) and the ideal tasks/s (every slot busy: workers x concurrency /
(2 x latency)).
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
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = "openai/replay"
PLUGINS = "litellm,tools,cost,postgres,celery"


def submit(storage: Any, app: Any, n: int, ws: str) -> list[str]:
    """Store and queue ``n`` tasks, as ``az task submit -m openai/replay``
    does (all stored in one transaction first, then queued)."""
    from az_os.types import Task, TaskStatus

    tasks = [
        Task(
            description=f"bench {i}: list the workspace",
            model=MODEL,
            status=TaskStatus.PENDING,
            workspace=ws,
            approval="auto",
            max_turns=4,
        )
        for i in range(n)
    ]
    for t in tasks:
        storage.create_task(t)
        storage.save_state(t.id, {"model_fixed": True, "tools": None})
        app.send_task("az.run_task", args=[t.id], queue="az.medium")
    return [t.id for t in tasks]


def wait_done(storage: Any, total: int, timeout: float) -> None:
    """Until ``total`` tasks are finished: one COUNT query every 0.1 s."""
    deadline = time.time() + timeout
    finished = ("completed", "failed", "cancelled", "interrupted")
    while sum(storage.count_tasks(status=s) for s in finished) < total:
        if time.time() > deadline:
            raise SystemExit(f"tasks not finished after {timeout:g} s")
        time.sleep(0.1)


def run(n_workers: int, n_tasks: int, concurrency: int, env: dict[str, str], dsn: str) -> float:
    """Start ``n_workers`` workers, warm them, time ``n_tasks``; tasks/s."""
    from az_celery.worker import make_app
    from az_os.config import load_config
    from az_postgres.storage import PostgresStorage

    storage = PostgresStorage(dsn=dsn)
    logs = Path(env["AZ_HOME"])
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "az_os.cli", "worker", "start", "-c", str(concurrency)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=open(logs / f"worker-{i}.log", "w"),  # noqa: SIM115
        )
        for i in range(n_workers)
    ]
    try:
        app = make_app(load_config())
        deadline = time.time() + 120
        while len(app.control.ping(timeout=1.0) or []) < n_workers:  # every worker is up
            if time.time() > deadline:
                raise SystemExit("the workers did not start")
        ws = tempfile.mkdtemp()
        Path(ws, "one.txt").write_text("1\n")
        # warm-up (not timed): each worker thread loads litellm's client once
        submit(storage, app, n_workers * concurrency, ws)
        wait_done(storage, storage.count_tasks(), timeout=300)
        cpu0 = _cpu_s(workers)
        start = time.perf_counter()
        ids = submit(storage, app, n_tasks, ws)
        wait_done(storage, storage.count_tasks(), timeout=600)
        elapsed = time.perf_counter() - start
        cpu_ms = (_cpu_s(workers) - cpu0) * 1000 / n_tasks
        done = [storage.get_task(i) for i in ids]
        bad = [t for t in done if t.status.value != "completed" or t.result is None]
        if bad:
            print(
                f"  warning: {len(bad)} tasks did not complete: {bad[0].status.value} "
                f"{bad[0].error}",
                file=sys.stderr,
            )
        print(
            f"  {n_workers} worker(s): {elapsed:.1f} s for {n_tasks} tasks; worker CPU "
            f"{cpu_ms:.0f} ms per task",
            file=sys.stderr,
        )
        return n_tasks / elapsed
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        storage.close()


def _cpu_s(workers: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds (user + system) the worker processes used so far."""
    import psutil

    total = 0.0
    for w in workers:
        t = psutil.Process(w.pid).cpu_times()
        total += t.user + t.system
    return total


def model_server(port: int, latency_ms: float) -> subprocess.Popen[bytes]:
    """Start the replay model server and wait until it answers."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "replay_model_server.py"),
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
        ]
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the model server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=128, help="timed tasks per run")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument(
        "--latency-ms", type=float, default=1000.0, help="model server latency per request"
    )
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from az_os.testservers import free_port, postgres_server, redis_server

    counts = [int(n) for n in args.workers.split(",")]
    root = Path(tempfile.mkdtemp(prefix="az-bench-"))
    port = free_port()
    server = model_server(port, args.latency_ms)
    config = (
        "[[models.custom]]\n"
        f'id = "{MODEL}"\n'
        f'api_base = "http://127.0.0.1:{port}/v1"\n'
        "input_cost_per_token = 1e-6\noutput_cost_per_token = 2e-6\n"
        "context_window = 32768\nsupports_tools = true\n\n"
        "[litellm]\nretries = 0\n"
    )
    results: dict[int, float] = {}
    try:
        with redis_server() as broker, postgres_server() as pg:
            for n in counts:
                dsn = pg.create_database()
                home = root / f"home-{n}"
                home.mkdir()
                (home / "config.toml").write_text(config)
                env = {
                    "AZ_HOME": str(home),
                    "AZ_LOAD_PLUGINS": PLUGINS,
                    "AZ_STORAGE__BACKEND": "postgres",
                    "AZ_STORAGE__DSN": dsn,
                    "AZ_CELERY__BROKER_URL": broker,
                    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                }
                os.environ.update(env)
                from az_os import drivers

                drivers.close_all()
                results[n] = run(n, args.tasks, args.concurrency, env, dsn)
                ideal = n * args.concurrency / (2 * args.latency_ms / 1000)
                print(
                    f"{n} worker(s) x {args.concurrency}: {results[n]:6.2f} tasks/s "
                    f"(ideal {ideal:.1f})",
                    flush=True,
                )
        served = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats").read())
    finally:
        server.terminate()
        server.wait(10)
    lo, hi = min(counts), max(counts)
    print(
        f"scaling {lo} -> {hi} workers: {results[hi] / results[lo]:.2f}x "
        f"(target >= 3.5x from 1 to 4; {os.cpu_count()} CPUs; model latency "
        f"{args.latency_ms:g} ms per request, 2 requests per task; {args.tasks} tasks "
        f"per run; {served['requests']} model requests served)"
    )


if __name__ == "__main__":
    main()
