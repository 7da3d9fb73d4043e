"""Running az tasks from a Celery queue, exactly once, through the kernel's
:class:`~az_os.engine.ExecutionEngine` and the shared storage backend.

One message per task (``az.run_task(task_id)``), acknowledged late: a worker
that dies before finishing leaves it unacknowledged, so the broker may hand
it out again. What makes a run happen once is the database, not the broker:

1. **Claim.** Before running, the worker claims the task in the database
   (the kernel's :class:`~az_os.claims.TaskClaims`, owner
   ``az-worker@HOST:PID``, one transaction). A finished task, one another
   worker holds with a live heartbeat, or one another thread of this
   process runs is skipped, so a redelivered or duplicated message never
   runs a task twice. The claim stays after the run, as its record.
2. **Heartbeat.** While it runs, the process's one claims thread refreshes
   the claim every ``heartbeat_s`` seconds.
3. **Take-over.** Every worker sweeps for workers' claims whose heartbeat is
   older than ``stale_after_s`` (their worker was killed or its host died):
   exactly one sweeper drops the stale claim (``release_claim`` returns True
   once), marks the task ``interrupted`` and puts its message back on its
   queue. The worker that claims it next resumes it from its last complete
   turn (the engine rebuilds the conversation from the stored turns). Stale
   claims of other processes (``az serve``, the dashboard, ``az task
   resume``) are not requeued: those tasks were not submitted to the queue,
   and their own process resumes them.

Cancellation: ``az task cancel`` stores the task ``cancelled`` and, seeing
its claim, signals no process (a worker runs many tasks in one process).
The claims thread reads the stored status of the process's running tasks
every ``cancel_check_s`` (1 s) and cancels the asyncio task of a cancelled
one; the engine records it ``cancelled`` and the other tasks run on. (A
worker's thread pool cannot stop a thread from outside, which is why
Celery's ``revoke(terminate=True)``, a signal to a prefork child process,
is not the mechanism here.)

Each worker thread keeps one event loop for all its tasks, so the engine's
storage calls reuse their executor threads and database connections, and
model clients an HTTP provider caches stay usable.

Cost limits hold across workers because az-cost checks them with the
storage's atomic ``reserve_budget`` (one transaction for every process
sharing the database), not with anything local to a worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

log = logging.getLogger("az.celery")

#: Task priority → queue (workers consume them in this order).
QUEUES = {"urgent": "az.urgent", "high": "az.high", "medium": "az.medium", "low": "az.low"}
DEFAULT_QUEUES = ("az.urgent", "az.high", "az.medium", "az.low")
FINISHED = ("completed", "failed", "cancelled")


def queue_for(priority: str) -> str:
    """The queue of a task priority (``urgent`` → ``az.urgent``...)."""
    return QUEUES.get(str(priority), "az.medium")


def settings(config: Any = None) -> dict[str, Any]:
    """The ``[celery]`` section with defaults (:class:`~az_celery.settings.CelerySettings`)
    as a dict: ``broker_url`` (``redis://127.0.0.1:6379/0``), ``heartbeat_s``
    (5), ``stale_after_s`` (30), ``visibility_timeout_s`` (3600),
    ``cancel_check_s`` (1). Raises
    ConfigError naming the key when a value is invalid."""
    from az_os.config import load_config

    from az_celery.settings import DEFAULT_BROKER_URL, load_settings

    s = load_settings(config or load_config()).to_dict()
    s["broker_url"] = s["broker_url"] or DEFAULT_BROKER_URL
    return s


def make_app(config: Any = None) -> Any:
    """The Celery app: Redis broker, late acks, one message prefetched per
    worker thread, queues consumed in priority order, no result backend (the
    storage is where results are)."""
    from celery import Celery

    s = settings(config)
    app = Celery("az", broker=s["broker_url"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue="az.medium",
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "queue_order_strategy": "priority",
            "visibility_timeout": s["visibility_timeout_s"],
        },
    )
    app.task(name="az.run_task", acks_late=True, ignore_result=True)(run_task)
    return app


#: the owner kind of a worker's claims: ``az-worker@HOST:PID``
OWNER_KIND = "az-worker"


class _Job:
    """One task's run on its worker thread's event loop, stoppable from the
    claims thread (``az task cancel``): a stop that comes before the run
    starts is kept and applied when it does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.job: asyncio.Task[Any] | None = None
        self.stopped = False

    def start(self, loop: asyncio.AbstractEventLoop, job: asyncio.Task[Any]) -> None:
        with self.lock:
            self.loop, self.job = loop, job
            if self.stopped:
                job.cancel()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            if self.loop is not None and self.job is not None:
                self.loop.call_soon_threadsafe(self.job.cancel)


_claims_lock = threading.Lock()
_claims: Any = None


def _get_claims(s: dict[str, Any]) -> Any:
    """This process's :class:`~az_os.claims.TaskClaims` (one thread and one
    database connection for every task the process runs)."""
    global _claims
    with _claims_lock:
        if _claims is None or not _claims.owner.endswith(f":{os.getpid()}"):
            from az_os.claims import TaskClaims, owner_id
            from az_os.drivers import get_storage

            _claims = TaskClaims(
                get_storage,
                owner_id(OWNER_KIND),
                heartbeat_s=s["heartbeat_s"],
                check_s=min(s["heartbeat_s"], s["cancel_check_s"]),
                stale_after_s=s["stale_after_s"],
            )
        return _claims


_engine_lock = threading.Lock()
_engine: Any = None


def _get_engine() -> Any:
    global _engine
    with _engine_lock:
        if _engine is None:
            from az_os.default_plugins import policy
            from az_os.engine import ExecutionEngine

            policy.set_prompter(None)  # nobody to ask on a worker
            _engine = ExecutionEngine()
        return _engine


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This worker thread's event loop, kept for every task the thread runs:
    its default executor (where the engine's storage calls run) keeps its
    threads, so their database connections are reused from task to task,
    and the model clients an HTTP provider caches stay on a live loop."""
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def run_task(task_id: str) -> str:
    """Claim and run one task (the body of the ``az.run_task`` Celery task).

    Returns ``"skipped"`` (finished, or claimed by a live worker) or the
    task's final status."""
    from az_os.drivers import get_storage

    s = settings()
    storage = get_storage()
    claims = _get_claims(s)
    run = _Job()
    # heartbeats and the cancel watch from the claim on (engine start-up included)
    if not claims.claim(task_id, run.stop, required=True):
        log.info("task %s: finished or claimed elsewhere; skipped", task_id)
        return "skipped"
    keep = True
    try:
        task = storage.get_task(task_id)
        if task is None or task.status.value in FINISHED:
            return "skipped"
        engine = _get_engine()
        loop = _thread_loop()
        job = loop.create_task(engine.execute(task))
        run.start(loop, job)
        final = loop.run_until_complete(job)
    except asyncio.CancelledError:
        return _cancelled_run(storage, task_id)
    except Exception as exc:  # noqa: BLE001 - the task records it
        keep = False
        return _failed_run(storage, task_id, exc)
    finally:
        claims.release(task_id, keep_claim=keep)
    return str(final.status.value)


def _cancelled_run(storage: Any, task_id: str) -> str:
    """The watch cancelled the run (``az task cancel``): the engine stored
    it ``cancelled``; the claim stays, as for any finished task."""
    stored = storage.get_task(task_id)
    return stored.status.value if stored else "cancelled"


def _failed_run(storage: Any, task_id: str, exc: Exception) -> str:
    """The engine raised: a task that never started (bad workspace, unknown
    model) is marked ``failed`` with the reason; one the engine marked
    ``interrupted`` stays so for ``az task resume``. Either way the claim is
    dropped, so the sweep does not requeue it over and over: only a worker
    that stops heartbeating gets its task requeued."""
    from az_os.types import TaskStatus, utcnow

    log.warning("task %s: %s", task_id, exc)
    stored = storage.get_task(task_id)
    if stored is not None and stored.status in (TaskStatus.PENDING, TaskStatus.INITIALIZED):
        stored.status = TaskStatus.FAILED
        stored.error = str(exc) or type(exc).__name__
        stored.completed_at = utcnow()
        storage.update_task(stored)
    return stored.status.value if stored else "failed"


def sweep(app: Any, storage: Any, stale_after_s: float) -> list[str]:
    """Put the tasks of dead workers back on their queues: for each stale
    claim of a worker (not of ``az serve``, the dashboard or ``az task
    resume``: their tasks never came from the queue) that this process
    manages to drop, mark the task ``interrupted`` and send its message
    again. Returns the ids sent."""
    from az_os.claims import parse_owner
    from az_os.types import LogRecord, TaskStatus

    sent = []
    for task_id, holder in storage.stale_claims(stale_after_s):
        owner = parse_owner(holder)
        if owner is not None and owner.kind not in (None, OWNER_KIND):
            continue  # another kind of process's task; it resumes it itself
        task = storage.get_task(task_id)
        if task is None or not storage.release_claim(task_id, holder):
            continue  # another sweeper got it
        why = f"interrupted: worker {holder} stopped (no heartbeat for {stale_after_s:g} s)"
        if task.status == TaskStatus.RUNNING:
            task.status = TaskStatus.INTERRUPTED
            task.error = why
            storage.update_task(task)
        storage.add_log(LogRecord(task_id=task_id, level="warning", message=why + "; requeued"))
        app.send_task("az.run_task", args=[task_id], queue=queue_for(task.priority.value))
        sent.append(task_id)
    return sent


class Sweeper(threading.Thread):
    """Runs :func:`sweep` every ``every_s`` seconds in a worker process."""

    def __init__(self, app: Any, every_s: float, stale_after_s: float) -> None:
        super().__init__(daemon=True, name="az-sweeper")
        self.app, self.every_s, self.stale_after_s = app, every_s, stale_after_s
        self.stop = threading.Event()

    def run(self) -> None:
        from az_os.drivers import get_storage

        while True:
            try:
                for task_id in sweep(self.app, get_storage(), self.stale_after_s):
                    log.warning("task %s: its worker died; requeued", task_id)
            except Exception as exc:  # noqa: BLE001 - try again next round
                log.warning("sweep failed: %s", exc)
            if self.stop.wait(self.every_s):
                return
