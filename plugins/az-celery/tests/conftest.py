"""Real workers: `az worker start` processes against a real Redis and a real
PostgreSQL (both started by the session on loopback ports)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


class Cluster:
    """Workers sharing one broker and one database, plus helpers to submit."""

    def __init__(self, env: dict[str, str], dsn: str, tmp: Path) -> None:
        self.env = env
        self.dsn = dsn
        self.tmp = tmp
        self.workers: list[subprocess.Popen[str]] = []

    def start_worker(self, concurrency: int = 4) -> subprocess.Popen[str]:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "az_os.cli", "worker", "start", "-c", str(concurrency)],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.workers.append(proc)
        return proc

    def wait_ready(self, timeout: float = 90) -> None:
        """Block until every started worker answers a Celery ping, so work
        submitted next is shared by all of them rather than taken by
        whichever process finished importing first."""
        from az_celery.worker import make_app
        from az_os.config import load_config

        app = make_app(load_config())
        want = sum(1 for p in self.workers if p.poll() is None)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(app.control.ping(timeout=1.0) or []) >= want:
                return
        logs = "\n".join(p.read_text()[-2000:] for p in self.tmp.glob("worker-*.log"))
        raise AssertionError(f"{want} workers not ready in {timeout} s; logs:\n{logs}")

    def storage(self) -> Any:
        from az_postgres.storage import PostgresStorage

        return PostgresStorage(dsn=self.dsn)

    def submit(self, storage: Any, n: int, ws: Path, **kw: Any) -> list[str]:
        """Store ``n`` tasks and queue them, as 'az task submit' does."""
        from az_celery.worker import make_app, queue_for
        from az_os.config import load_config
        from az_os.types import Task, TaskStatus

        app = make_app(load_config())
        ids = []
        for i in range(n):
            t = storage.create_task(
                Task(
                    description=f"task {i}",
                    model="scripted/cheap",
                    status=TaskStatus.PENDING,
                    workspace=str(ws),
                    approval="auto",
                    **kw,
                )
            )
            storage.save_state(t.id, {"model_fixed": True, "tools": None})
            app.send_task("az.run_task", args=[t.id], queue=queue_for(t.priority.value))
            ids.append(t.id)
        return ids

    def wait_finished(self, storage: Any, ids: list[str], timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            done = [storage.get_task(i).status.value for i in ids]
            if all(s in ("completed", "failed", "cancelled") for s in done):
                return
            time.sleep(0.5)
        logs = "\n".join(p.read_text()[-2000:] for p in self.tmp.glob("worker-*.log"))
        raise AssertionError(f"tasks not finished in {timeout} s; worker logs:\n{logs}")

    def stop(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def cluster(
    az_home: Path,
    tmp_path: Path,
    pg_dsn: str,
    redis_url: str,
    scripted_env: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Cluster]]:
    """``cluster(steps, **settings) -> Cluster``: environment for workers on
    the scripted model (``steps``), PostgreSQL storage and the Redis broker."""
    pytest.importorskip("az_postgres", reason="the workers share a PostgreSQL database")
    made: list[Cluster] = []
    queue_db = (
        redis_url.rsplit("/", 1)[0] + f"/{len(os.environ.get('PYTEST_XDIST_WORKER', '')) + 1}"
    )

    def make(steps: list[dict[str, Any]], **settings: str) -> Cluster:
        env = scripted_env(steps, plugins="scripted,tools,postgres,celery,cost")
        env.update(
            AZ_HOME=str(az_home),
            AZ_STORAGE__BACKEND="postgres",
            AZ_STORAGE__DSN=pg_dsn,
            AZ_CELERY__BROKER_URL=queue_db,
            AZ_CELERY__HEARTBEAT_S="1",
            AZ_CELERY__STALE_AFTER_S="4",
        )
        env.update({f"AZ_{k.upper()}": v for k, v in settings.items()})
        for k, v in env.items():
            if k.startswith("AZ_"):
                monkeypatch.setenv(k, v)
        import redis

        redis.Redis.from_url(queue_db).flushdb()
        c = Cluster(env, pg_dsn, tmp_path)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
