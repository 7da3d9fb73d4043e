"""az serve under load, on loopback only, bounded in time and size.

Starts the real server (``az serve`` in a subprocess, uvicorn, a real SQLite
file under a temporary az home) with the scripted model plugin (every task
answers at once: one model call, one turn), then measures:

* 200 task submissions sent at once (one HTTP connection each, a lean
  asyncio client: see :func:`_post`):
  submit latency p50/p95 (ms, request to 202), errors (non-202 answers),
  tasks/s from the first submission to the last task completed, and lost
  tasks (submitted but not completed in storage);
* the baseline for that burst on the same machine at the same moment: the
  same 200 requests, same client, against a bare FastAPI app under the same
  uvicorn settings whose endpoint validates the same body and answers 202
  (nothing stored): what this stack costs without az, so a loaded machine's
  numbers can be read against it;
* ``GET /api/tasks?limit=20`` p50/p95 with 100,000 tasks stored (filled in
  bulk through the storage backend, then the server restarted), the first
  page and a page 50,000 tasks deep (by cursor), with the baseline app's
  ``GET /ping`` p50 (one request at a time, same client) beside them;
* ``az health --json`` end to end (process start to exit; wall and CPU
  time, user + system, since a shared machine's load inflates the wall
  time) with every check local: only telemetry and sqlite loaded, then
  every installed plugin (no API keys: hosted providers are not probed).

Run: ``python benchmarks/server.py`` (``--tasks``, ``--stored``, ``--runs`` to change sizes;
``--skip-health`` leaves out the ``az health`` part; ``--baseline-workers 2`` adds the same
burst against the bare app under ``uvicorn --workers 2``, what several server processes
sharing the port could reach at best).
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
        self.url = self._wait_url()
        self.token = subprocess.run(
            [sys.executable, "-m", "az_os.cli", "serve", "token"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    def _wait_url(self) -> str:
        deadline = time.monotonic() + 120
        while True:
            text = self.log.read_text()
            if "serving on " in text:
                return text.split("serving on ", 1)[1].split()[0]
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {text[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


BASELINE_APP = """
import sys
from typing import Literal
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    description: str = Field(min_length=1, max_length=100_000)
    model: str | None = None
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    max_cost: float | None = Field(default=None, gt=0)
    workspace: str | None = None
    max_turns: int | None = Field(default=None, ge=1, le=100)
    tools: list[str] | None = None

app = FastAPI()
n = 0

@app.post("/api/tasks", status_code=202)
async def submit(body: TaskIn) -> JSONResponse:
    global n
    n += 1
    return JSONResponse({"id": str(n), "status": "pending"}, status_code=202)

@app.get("/ping")
async def ping() -> dict:
    return {"ok": True}

class Server(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets)
        for s in self.servers:
            for sock in s.sockets:
                a = sock.getsockname()
                sys.stderr.write(f"az: serving on http://{a[0]}:{a[1]}\\n")
        sys.stderr.flush()

Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                      access_log=False)).run()
"""


class _Baseline(_Server):
    """The bare FastAPI app (:data:`BASELINE_APP`) in a subprocess."""

    def __init__(self, env: dict[str, str]) -> None:  # noqa: D107
        self.log = Path(env["AZ_HOME"]) / f"baseline-{time.monotonic_ns()}.log"
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", BASELINE_APP],
                env=env, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.url = self._wait_url()
        self.token = "unused"


class _BaselineWorkers(_Server):
    """The bare app's module (:data:`BASELINE_APP` up to its own server) under
    ``uvicorn --workers N``: N processes sharing one port, the ceiling of a
    multi-process ``az serve`` on this machine."""

    def __init__(self, env: dict[str, str], workers: int) -> None:  # noqa: D107
        import socket

        app_dir = Path(env["AZ_HOME"]) / f"bare-{time.monotonic_ns()}"
        app_dir.mkdir()
        (app_dir / "bare_app.py").write_text(BASELINE_APP.split("class Server(", 1)[0])
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.log = app_dir / "log"
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(app_dir),
                 "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                 "--no-access-log"],
                env=env, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        self.token = "unused"
        import httpx

        deadline = time.monotonic() + 60
        while True:  # every worker answers once the port does; give them a moment more
            try:
                httpx.get(self.url + "/ping", timeout=1)
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"uvicorn --workers did not start: {self.log.read_text()}"
                    ) from None
                time.sleep(0.1)
        time.sleep(1.0)


async def _post(url: str, path: str, token: str, body: dict[str, Any]) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on its own connection: ``(status, body)``.

    asyncio streams, not httpx: with 200 requests in flight httpx's
    connection pool costs the client more CPU than the server spends (the
    bare-app baseline measured 3-7 s at p95 with it, 0.4-0.8 s without, on
    the same loaded machine), and the client's time would count as the
    server's latency."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode() + data)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await reader.readexactly(length)
    finally:
        writer.close()


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _submit_all(
    url: str, token: str, n: int, pid: int = 0
) -> tuple[list[float], list[str], list[str], float, float | None]:
    """The burst; the last value is the server's CPU ms per request over
    it (load on a shared machine inflates wall times, not CPU time)."""
    # warm up the code paths (the first request imports lazily), let its task end
    await _post(url, "/api/tasks", token, {"description": "warm-up"})
    await asyncio.sleep(1.0)
    cpu_before = _cpu_s(pid)

    async def one(i: int) -> tuple[float, int, str]:
        t = time.perf_counter()
        try:
            code, body = await _post(url, "/api/tasks", token, {"description": f"task {i}"})
        except OSError as exc:  # a refused or reset connection is an error too
            return (time.perf_counter() - t) * 1000, 0, f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t) * 1000
        return ms, code, json.loads(body).get("id", "") if code == 202 else body.decode()

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    cpu_after = _cpu_s(pid)
    cpu_ms = None
    if cpu_before is not None and cpu_after is not None:
        cpu_ms = (cpu_after - cpu_before) * 1000 / n
    lat = [ms for ms, _, _ in results]
    ids = [x for _, code, x in results if code == 202]
    errors = [f"{code}: {x[:100]}" for _, code, x in results if code != 202]
    return lat, ids, errors, start, cpu_ms


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=200, help="concurrent submissions (default 200)")
    ap.add_argument("--stored", type=int, default=100_000, help="tasks stored for the list test")
    ap.add_argument("--runs", type=int, default=7, help="az health processes per measurement")
    ap.add_argument("--concurrency", type=int, default=8, help="server.concurrency")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--skip-health", action="store_true", help="do not measure az health")
    ap.add_argument(
        "--baseline-workers",
        type=int,
        default=0,
        metavar="N",
        help="also send the burst to the bare app under uvicorn --workers N (default: skip)",
    )
    args = ap.parse_args(argv)
    import httpx

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="az-bench-server-") as tmp_:
        tmp = Path(tmp_)
        site = _site(tmp)
        home = tmp / "home"
        home.mkdir()
        # the headless server's plugins (README), with the scripted model for a provider
        env = _env(home, site, "scripted,sqlite,cost,server,telemetry")

        # -- baseline: the same burst against a bare FastAPI app ---------------
        base = _Baseline(env)
        try:
            base_lat, _, base_errors, _, base_cpu = asyncio.run(
                _submit_all(base.url, "-", args.tasks, base.proc.pid)
            )
            with httpx.Client(base_url=base.url, timeout=60) as c:
                ping = []
                for _ in range(10):
                    c.get("/ping")
                ping_cpu = _cpu_s(base.proc.pid)
                for _ in range(100):
                    t = time.perf_counter()
                    c.get("/ping")
                    ping.append((time.perf_counter() - t) * 1000)
                ping_cpu2 = _cpu_s(base.proc.pid)
        finally:
            base.stop()
        results.update(
            baseline_submit_p50_ms=_pct(base_lat, 50),
            baseline_submit_p95_ms=_pct(base_lat, 95),
            baseline_errors=len(base_errors),
            baseline_submit_cpu_ms=base_cpu,
            baseline_get_p50_ms=_pct(ping, 50),
            baseline_get_cpu_ms=None
            if ping_cpu is None or ping_cpu2 is None
            else (ping_cpu2 - ping_cpu) * 1000 / len(ping),
        )

        if args.baseline_workers:
            multi = _BaselineWorkers(env, args.baseline_workers)
            try:
                multi_lat, _, multi_errors, _, _ = asyncio.run(
                    _submit_all(multi.url, "-", args.tasks, 0)
                )
            finally:
                multi.stop()
            results.update(
                baseline_workers=args.baseline_workers,
                baseline_workers_p50_ms=_pct(multi_lat, 50),
                baseline_workers_p95_ms=_pct(multi_lat, 95),
                baseline_workers_errors=len(multi_errors),
            )

        # -- 200 concurrent submissions ---------------------------------------
        server = _Server(env, args.concurrency, queue=args.tasks * 2)
        try:
            lat, ids, errors, start, cpu = asyncio.run(
                _submit_all(server.url, server.token, args.tasks, server.proc.pid)
            )
            headers = {"Authorization": f"Bearer {server.token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                deadline = time.monotonic() + 300
                params = {"status": "completed", "limit": 1, "total": "true"}
                while True:
                    done = c.get("/api/tasks", params=params).json()["total"] - 1  # warm-up
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
            submit_cpu_ms=cpu,
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
        deep, depth = None, 0  # a cursor half-way down the list
        while depth < args.stored // 2:
            _, deep = storage.list_task_page(limit=500, cursor=deep)
            depth += 500
        storage.close()
        server = _Server(env, args.concurrency, queue=100)
        try:
            headers = {"Authorization": f"Bearer {server.token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                samples: dict[str, list[float]] = {"all": [], "status=failed": [], "deep": []}
                for _ in range(10):
                    c.get("/api/tasks", params={"limit": 20})
                list_cpu = _cpu_s(server.proc.pid)
                for _ in range(100):
                    for key, params in (
                        ("all", {}),
                        ("status=failed", {"status": "failed"}),
                        ("deep", {"cursor": deep}),
                    ):
                        t = time.perf_counter()
                        r = c.get("/api/tasks", params={"limit": 20, **params})
                        samples[key].append((time.perf_counter() - t) * 1000)
                        assert r.status_code == 200 and len(r.json()["tasks"]) == 20
                list_cpu2 = _cpu_s(server.proc.pid)
                total = c.get("/api/tasks", params={"limit": 1, "total": "true"}).json()["total"]
        finally:
            server.stop()
        results.update(
            stored_tasks=total,
            list_p50_ms=_pct(samples["all"], 50),
            list_p95_ms=_pct(samples["all"], 95),
            list_failed_p50_ms=_pct(samples["status=failed"], 50),
            list_deep_p50_ms=_pct(samples["deep"], 50),
            list_cpu_ms=None
            if list_cpu is None or list_cpu2 is None
            else (list_cpu2 - list_cpu) * 1000 / sum(len(v) for v in samples.values()),
            list_deep_depth=depth,
        )

        # -- az health end to end --------------------------------------------------
        health = () if args.skip_health else ("telemetry_sqlite", "all_plugins")
        for label, plugins in (("telemetry_sqlite", "telemetry,sqlite"), ("all_plugins", None)):
            if label not in health:
                continue
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


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f} ms"


def _print(r: dict[str, Any]) -> None:
    print(
        f"baseline, bare FastAPI app, same {r['submissions']} concurrent POSTs: "
        f"p50 {r['baseline_submit_p50_ms']:.1f} ms, p95 {r['baseline_submit_p95_ms']:.1f} ms, "
        f"errors {r['baseline_errors']}; server CPU {_ms(r['baseline_submit_cpu_ms'])} per request; "
        f"one GET at a time p50 {r['baseline_get_p50_ms']:.2f} ms, "
        f"server CPU {_ms(r['baseline_get_cpu_ms'])} per request"
    )
    if "baseline_workers" in r:
        print(
            f"baseline under uvicorn --workers {r['baseline_workers']}, same burst: "
            f"p50 {r['baseline_workers_p50_ms']:.1f} ms, p95 {r['baseline_workers_p95_ms']:.1f} ms, "
            f"errors {r['baseline_workers_errors']}"
        )
    print(f"{r['submissions']} concurrent submissions (server.concurrency {r['concurrency']}):")
    print(
        f"  submit latency p50 {r['submit_p50_ms']:.1f} ms, p95 {r['submit_p95_ms']:.1f} ms, "
        f"max {r['submit_max_ms']:.1f} ms; server CPU {_ms(r['submit_cpu_ms'])} per request"
    )
    print(
        f"  errors {r['errors']} {r['error_samples'] or ''}, lost {r['lost']}, completed {r['completed']}"
    )
    print(f"  {r['tasks_per_s']:.1f} tasks/s from first submission to last completion")
    print(f"GET /api/tasks?limit=20 with {r['stored_tasks']:,} tasks stored:")
    print(
        f"  p50 {r['list_p50_ms']:.2f} ms, p95 {r['list_p95_ms']:.2f} ms; "
        f"?status=failed p50 {r['list_failed_p50_ms']:.2f} ms; "
        f"{r['list_deep_depth']:,} deep by cursor p50 {r['list_deep_p50_ms']:.2f} ms; "
        f"server CPU {_ms(r['list_cpu_ms'])} per request"
    )
    for label in ("telemetry_sqlite", "all_plugins"):
        if f"health_{label}_checks" not in r:
            continue
        print(
            f"az health --json ({label.replace('_', ' + ' if label.startswith('tel') else ' ')}): "
            f"median {r[f'health_{label}_median_ms']:.0f} ms "
            f"(CPU {r[f'health_{label}_cpu_median_ms']:.0f} ms), "
            f"{len(r[f'health_{label}_checks'])} checks, exit codes {r[f'health_{label}_exit_codes']}"
        )


if __name__ == "__main__":
    main()
