"""Tasks in the server process: a priority queue, a bounded number running
at once through the kernel's :class:`~az_os.engine.ExecutionEngine`, live
events per task, cancellation and a graceful stop.

A submitted task is stored at once (status ``pending``), so it survives a
crash: a restarted server requeues every task submitted to a server that is
still ``pending``, or ``interrupted`` (by a SIGTERM, or found running with
its process gone) (``server.resume_on_start``). Its state carries a
``"server"`` key to tell it from tasks other processes stored.

A running task is claimed in storage for this server (owner
``az-serve@HOST:PID``) with the kernel's :class:`~az_os.claims.TaskClaims`,
so ``az task cancel`` from another terminal does not signal the server
process, which runs many tasks: its thread reads the stored status of the
running tasks every :data:`WATCH_S` seconds and cancels only the one marked
``cancelled`` (and refreshes the claims every :data:`HEARTBEAT_S`). The
claim of a server on this host whose process is gone is taken over at once.
On a storage backend without claims the server runs tasks unclaimed, still
watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from az_os.claims import TaskClaims, drop_leftover_claim, owner_id
from az_os.errors import AzError
from az_os.types import Task, TaskEvent, TaskStatus

if TYPE_CHECKING:  # pragma: no cover
    from az_os.engine import ExecutionEngine
    from az_os.storage import Storage

    from az_server.engine_loop import EngineLoop
    from az_server.settings import ServerSettings

log = logging.getLogger("az.server")

PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
#: channels of finished tasks kept for late SSE subscribers
KEEP_FINISHED = 1000
#: seconds a task about to start waits at most for requests being answered
ADMIT_WAIT_S = 0.5
#: seconds without a request after which tasks start again
QUIET_S = 0.02
#: seconds between reads of the running tasks' stored status (az task cancel)
WATCH_S = 1.0
#: seconds between claim heartbeats; a claim older than STALE_AFTER_S is a dead server's
HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0
STOPPED_MESSAGE = "the server stopped before the task finished; it resumes when the server starts"


class QueueFull(AzError):
    """The queue holds ``queue_size`` tasks already."""


class NotAccepting(AzError):
    """The server is shutting down."""


class Conflict(AzError):
    """The task is in a state that does not allow the request."""


class Channel:
    """A task's events, in order, for any number of followers. Each event is
    ``{"seq": n, "type", "task_id", "data", "timestamp"}`` (``seq`` from 1).
    Used from the event loop's thread only."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed = False
        self._changed = asyncio.Event()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def publish_nowait(self, event: dict[str, Any]) -> None:
        self.events.append({"seq": len(self.events) + 1, **event})
        self._wake()

    async def publish(self, event: dict[str, Any]) -> None:
        self.publish_nowait(event)

    async def close(self) -> None:
        self.closed = True
        self._wake()

    async def follow(self, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Every event with ``seq > after``, then new ones as they come,
        until the task ends."""
        i = after
        while True:
            if len(self.events) > i:
                batch = self.events[i:]
                i += len(batch)
                for ev in batch:
                    yield ev
            elif self.closed:
                return
            else:
                await self._changed.wait()


class TaskManager:
    """Runs submitted tasks: ``concurrency`` at once, up to ``queue_size``
    waiting, urgent first. Create inside the event loop; call :meth:`start`."""

    def __init__(self, engine: ExecutionEngine, settings: ServerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        #: waiting task id -> its priority rank; per rank, how many wait
        self.waiting: dict[str, int] = {}
        self._per_rank = [0] * (max(PRIORITY_RANK.values()) + 1)
        self.running: dict[str, asyncio.Task[None]] = {}
        self.channels: OrderedDict[str, Channel] = OrderedDict()
        self.accepting = True
        self.stopping = False
        self._seq = itertools.count()
        self._workers: list[asyncio.Task[None]] = []
        self._drain: asyncio.Task[None] | None = None
        self.started_at = time.time()
        self.finished: dict[str, int] = {}
        self._writes: list[tuple[Task, dict[str, Any], asyncio.Future[None]]] = []
        #: requests being answered now (:meth:`request_started`); set when none is
        self.requests = 0
        self._last_request = 0.0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._writing = False
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="az-submit")
        #: (monotonic end, seconds) of recently finished tasks
        self.durations: deque[tuple[float, float]] = deque(maxlen=10_000)
        #: the claims of the tasks this server runs (owner ``az-serve@HOST:PID``)
        self.claims = TaskClaims(
            lambda: self.storage,
            owner_id("az-serve"),
            heartbeat_s=HEARTBEAT_S,
            check_s=WATCH_S,
            stale_after_s=STALE_AFTER_S,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        #: where the tasks' engines run (:meth:`start`): hooks block it, not requests
        self.engine_loop: EngineLoop | None = None

    @property
    def storage(self) -> Storage:
        return self.engine.storage

    # -- life cycle --------------------------------------------------------
    async def start(self) -> list[str]:
        """Start the workers; requeue this server's unfinished tasks (see the
        module docstring). Returns the requeued ids."""
        requeued: list[str] = []
        if self.settings.resume_on_start:
            requeued = await asyncio.to_thread(self._unfinished)
            for task_id in requeued:
                task = await asyncio.to_thread(self.storage.get_task, task_id)
                if task is not None:
                    self._enqueue(task)
        from az_server.engine_loop import EngineLoop

        # the requests' storage reads; the running tasks have the engine loop's threads
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=16, thread_name_prefix="az-server")
        )
        # running tasks hold its threads (storage, blocking model calls), a few more for hooks
        self.engine_loop = EngineLoop(threads=self.settings.concurrency + 8)
        self._loop = asyncio.get_running_loop()
        for n in range(self.settings.concurrency):
            self._workers.append(asyncio.create_task(self._worker(), name=f"az-worker-{n}"))
        return requeued

    @property
    def owner(self) -> str:
        """The claim owner of the tasks this server runs: ``az-serve@HOST:PID``."""
        return self.claims.owner

    def _claim(self, task_id: str) -> bool:
        """Claim ``task_id`` for this server (from a worker thread). False
        when another process holds a live claim (it runs the task) or the
        task is finished; True too on a backend without claims (the task
        then runs unclaimed, watched)."""
        loop = self._loop
        assert loop is not None, "start() first"

        def cancelled_elsewhere() -> None:
            loop.call_soon_threadsafe(self._cancelled_elsewhere, task_id)

        return self.claims.claim(task_id, cancelled_elsewhere)

    def _release(self, task_id: str) -> None:
        self.claims.release(task_id)

    def _cancelled_elsewhere(self, task_id: str) -> None:
        """``az task cancel`` in another process marked the running task
        ``cancelled``: stop its run (on the event loop's thread)."""
        run = self.running.get(task_id)
        if run is not None and not self.stopping:
            log.info("task %s cancelled from another process", task_id)
            run.cancel()

    def _unfinished(self) -> list[str]:
        storage = self.storage
        storage.mark_interrupted()  # a previous server that died: its running tasks
        out: list[tuple[Any, str]] = []
        for status in (TaskStatus.PENDING, TaskStatus.INTERRUPTED, TaskStatus.RUNNING):
            offset = 0
            while True:
                page = storage.list_tasks(status=status, limit=500, offset=offset)
                for t in page:
                    server = (storage.load_state(t.id) or {}).get("server")
                    if isinstance(server, dict):  # submitted to a server, never finished
                        out.append((t.created_at, t.id))
                if len(page) < 500:
                    break
                offset += 500
        return [tid for _, tid in sorted(out)]

    def begin_shutdown(self) -> None:
        """Stop accepting; let running tasks finish for ``shutdown_timeout_s``
        seconds, then interrupt them; interrupt queued ones now. Idempotent."""
        if self._drain is None:
            self.accepting = False
            self._drain = asyncio.get_running_loop().create_task(self._shutdown())

    async def shutdown(self) -> None:
        """:meth:`begin_shutdown` and wait until it is done."""
        self.begin_shutdown()
        assert self._drain is not None
        await self._drain

    async def _shutdown(self) -> None:
        self.stopping = True
        for w in self._workers:
            w.cancel()
        waiting = list(self.waiting)
        for task_id in waiting:
            self._unwait(task_id)
        for task_id in waiting:
            await self._interrupt_stored(task_id)
        if self.running:
            done, pending = await asyncio.wait(
                list(self.running.values()), timeout=self.settings.shutdown_timeout_s
            )
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=10)
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self.engine_loop is not None:
            await asyncio.to_thread(self.engine_loop.close)
        await asyncio.to_thread(self.claims.close)

    async def _interrupt_stored(self, task_id: str) -> None:
        def mark() -> Task | None:
            task = self.storage.get_task(task_id)
            if task is None or task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
                return task
            task.status = TaskStatus.INTERRUPTED
            task.error = STOPPED_MESSAGE
            self.storage.update_task(task)
            state = self.storage.load_state(task_id) or {}
            state["server"] = {**(state.get("server") or {}), "requeue": True}
            self.storage.save_state(task_id, state)
            return task

        task = await asyncio.to_thread(mark)
        if task is not None and task.status == TaskStatus.INTERRUPTED:
            ev = TaskEvent(type="interrupted", task_id=task_id, data={"error": STOPPED_MESSAGE})
            await self._publish(task_id, ev.to_dict())
        await self._close(task_id)

    # -- submitting --------------------------------------------------------
    def _check_room(self) -> None:
        if not self.accepting:
            raise NotAccepting("the server is shutting down")
        if len(self.waiting) >= self.settings.queue_size:
            raise QueueFull(
                f"the queue is full ({self.settings.queue_size} tasks waiting); retry later"
            )

    async def submit(self, task: Task, tools: list[str] | None = None) -> int:
        """Store ``task`` as ``pending`` and queue it; returns its 1-based
        place in the queue. Raises :class:`QueueFull` or :class:`NotAccepting`.

        This is all a submission costs the request: the row is written (with
        every other submission of the moment, in one transaction) and the id
        queued; running happens behind it, ``concurrency`` tasks at a time."""
        self._check_room()
        task.status = TaskStatus.PENDING
        state: dict[str, Any] = {
            "model_fixed": task.model is not None,
            "tools": tools,
            "server": {},
        }
        await self._store(task, state)
        self._check_room()  # a shutdown may have begun while storing
        position = self._enqueue(task)
        event = TaskEvent(type="created", task_id=task.id, data={"description": task.description})
        self.channels[task.id].publish_nowait(event.to_dict())
        return position

    async def resume(self, task_id: str) -> Task:
        """Queue a stored cancelled, interrupted or failed task again."""
        self._check_room()
        task = await asyncio.to_thread(self.storage.get_task, task_id)
        if task is None:
            raise KeyError(task_id)
        if task.id in self.running or task.id in self.waiting:
            raise Conflict(f"task {task.id} is already queued or running")
        if task.status not in (TaskStatus.CANCELLED, TaskStatus.INTERRUPTED, TaskStatus.FAILED):
            raise Conflict(f"task {task.id} is {task.status.value}; nothing to resume")
        self.channels.pop(task.id, None)
        # the claim its last run left (a worker keeps one) is dropped, and it
        # is pending again, so the run's claim is granted (a finished task
        # cannot be claimed) and a cancel while it waits is told from the old one
        await asyncio.to_thread(self._drop_leftover_claim, task)
        task.status = TaskStatus.PENDING
        await asyncio.to_thread(self.storage.update_task, task)
        self._enqueue(task)
        return task

    def _drop_leftover_claim(self, task: Task) -> None:
        from az_os.errors import StorageError

        with contextlib.suppress(StorageError):  # a backend without claims
            drop_leftover_claim(self.storage, task)

    async def _store(self, task: Task, state: dict[str, Any]) -> None:
        """Store a submitted task and its state. Submissions arriving together
        are written together by one writer thread (not the shared thread pool
        the running tasks keep busy), in one transaction
        (``create_tasks_with_state``): a burst costs one commit, not one per
        task. The ``created`` task event goes to the plugins from that
        thread too, after the commit, so no hook runs on the event loop."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._writes.append((task, state, done))
        if not self._writing:
            self._writing = True
            loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._writes:
                batch, self._writes = self._writes, []
                results = await loop.run_in_executor(self._writer, self._write, batch)
                for (_, _, done), err in zip(batch, results, strict=True):
                    if done.done():
                        continue
                    if err is None:
                        done.set_result(None)
                    else:
                        done.set_exception(err)
        finally:
            self._writing = False

    def _write(self, batch: list[tuple[Task, dict[str, Any], Any]]) -> list[Exception | None]:
        storage = self.storage
        results: list[Exception | None] = [None] * len(batch)
        try:
            storage.create_tasks_with_state([(t, s) for t, s, _ in batch])
        except Exception:  # noqa: BLE001 - one bad row: store them one by one
            for n, (task, state, _) in enumerate(batch):
                try:
                    storage.create_tasks_with_state([(task, state)])
                except Exception as exc:  # noqa: BLE001 - given back to that submission
                    results[n] = exc
        host = self.engine.host
        for (task, _, _), err in zip(batch, results, strict=True):
            if err is None:
                event = TaskEvent(
                    type="created", task_id=task.id, data={"description": task.description}
                )
                try:
                    host.task_event(task=task, event=event)
                except Exception as exc:  # noqa: BLE001 - a plugin's failure is not the task's
                    log.warning("task_event hook failed for %s: %s", task.id, exc)
        return results

    def _enqueue(self, task: Task) -> int:
        """Queue ``task``; returns its place (1-based): it is the last of
        its priority, behind every more urgent one."""
        rank = PRIORITY_RANK.get(task.priority.value, 2)
        self.waiting[task.id] = rank
        self._per_rank[rank] += 1
        self.channels.setdefault(task.id, Channel())
        self.queue.put_nowait((rank, next(self._seq), task.id))
        return sum(self._per_rank[: rank + 1])

    def _unwait(self, task_id: str) -> bool:
        rank = self.waiting.pop(task_id, None)
        if rank is None:
            return False
        self._per_rank[rank] -= 1
        return True

    def position(self, task_id: str) -> int | None:
        """1-based place in the queue (by priority), or None if not waiting."""
        if task_id not in self.waiting:
            return None
        ordered = sorted(e for e in self.queue._queue if e[2] in self.waiting)  # type: ignore[attr-defined]
        for n, e in enumerate(ordered, 1):
            if e[2] == task_id:
                return n
        return None

    # -- running -----------------------------------------------------------
    def request_started(self) -> None:
        """An HTTP request (not an event stream) began: tasks wait to start."""
        self.requests += 1
        self._quiet.clear()

    def request_done(self) -> None:
        """Its response began: once no request has been answered for
        :data:`QUIET_S`, tasks start again."""
        self.requests = max(0, self.requests - 1)
        self._last_request = time.monotonic()
        if not self.requests:
            asyncio.get_running_loop().call_later(QUIET_S, self._check_quiet)

    def _check_quiet(self) -> None:
        if not self.requests and time.monotonic() - self._last_request >= QUIET_S * 0.9:
            self._quiet.set()

    async def _admission(self) -> None:
        """Before a task starts: wait until no request has been answered for
        :data:`QUIET_S`, at most :data:`ADMIT_WAIT_S`. A request then waits
        for no task to start (a burst of submissions is answered first), and
        a task waits milliseconds, never more than ADMIT_WAIT_S."""
        if not self._quiet.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), ADMIT_WAIT_S)

    async def _worker(self) -> None:
        while not self.stopping:
            _, _, task_id = await self.queue.get()
            await self._admission()
            if not self._unwait(task_id):
                continue  # cancelled while waiting
            run = asyncio.create_task(self._run(task_id), name=f"az-task-{task_id}")
            self.running[task_id] = run
            try:
                await asyncio.wait([run])
            finally:
                self.running.pop(task_id, None)

    async def _run(self, task_id: str) -> None:
        start = time.monotonic()
        final = "interrupted"
        try:
            task = await asyncio.to_thread(self.storage.get_task, task_id)
            if task is None:  # deleted while it waited
                return
            if task.status == TaskStatus.CANCELLED:  # az task cancel while it waited
                final = "cancelled"
                ev = TaskEvent(type="cancelled", task_id=task_id, data={"error": task.error})
                await self._publish(task_id, ev.to_dict())
                return
            if not await asyncio.to_thread(self._claim, task_id):
                log.warning("task %s is claimed by another process; not run here", task_id)
                return
            if task.started_at is not None:
                task = await self.engine.prepare_resume(task_id)

            def publish(event: dict[str, Any]) -> None:
                nonlocal final
                final = event["type"]
                self._publish_nowait(task_id, event)

            # the engine (its hooks, storage writes) runs on the engine loop's thread
            assert self.engine_loop is not None, "start() first"
            await self.engine_loop.stream(partial(self.engine.execute_stream, task), publish)
        except asyncio.CancelledError:
            if self.stopping:
                await asyncio.shield(self._interrupt_stored(task_id))
                final = "interrupted"
            else:
                final = "cancelled"
                ev = TaskEvent(type="cancelled", task_id=task_id, data={"error": "cancelled"})
                await self._publish(task_id, ev.to_dict())
        except Exception as exc:  # noqa: BLE001 - the engine stored it as interrupted
            log.warning("task %s stopped: %s: %s", task_id, type(exc).__name__, exc)
            ev = TaskEvent(
                type="interrupted", task_id=task_id, data={"error": f"{type(exc).__name__}: {exc}"}
            )
            await self._publish(task_id, ev.to_dict())
        finally:
            await asyncio.shield(asyncio.to_thread(self._release, task_id))
            self.finished[final] = self.finished.get(final, 0) + 1
            self.durations.append((time.monotonic(), time.monotonic() - start))
            await self._close(task_id)

    async def cancel(self, task_id: str) -> Task:
        """Cancel a waiting or running task; returns it as stored.
        Raises KeyError (unknown) or :class:`Conflict` (already finished)."""
        task = await asyncio.to_thread(self.storage.get_task, task_id)
        if task is None:
            raise KeyError(task_id)
        if self._unwait(task.id):
            task.status = TaskStatus.CANCELLED
            task.error = "cancelled before it started"
            await asyncio.to_thread(self.storage.update_task, task)
            ev = TaskEvent(type="cancelled", task_id=task.id, data={"error": task.error})
            await asyncio.to_thread(self.engine.host.task_event, task=task, event=ev)
            await self._publish(task.id, ev.to_dict())
            await self._close(task.id)
        elif task.id in self.running:
            run = self.running[task.id]
            run.cancel()
            await asyncio.wait([run], timeout=10)
        elif task.status.finished:
            raise Conflict(f"task {task.id} is already {task.status.value}")
        else:
            raise Conflict(f"task {task.id} is {task.status.value} in another process")
        final = await asyncio.to_thread(self.storage.get_task, task.id)
        return final or task

    # -- events --------------------------------------------------------------
    def _publish_nowait(self, task_id: str, event: dict[str, Any]) -> None:
        channel = self.channels.get(task_id)
        if channel is None:
            channel = self.channels[task_id] = Channel()
        channel.publish_nowait(event)

    async def _publish(self, task_id: str, event: dict[str, Any]) -> None:
        self._publish_nowait(task_id, event)

    async def _close(self, task_id: str) -> None:
        channel = self.channels.get(task_id)
        if channel is not None:
            await channel.close()
            self.channels.move_to_end(task_id)
        while len(self.channels) > KEEP_FINISHED + len(self.running) + len(self.waiting):
            oldest, ch = next(iter(self.channels.items()))
            if not ch.closed:
                break
            self.channels.pop(oldest)

    def stats(self) -> dict[str, Any]:
        """Queue and run numbers for ``/api/performance``."""
        durs = sorted(d for _, d in self.durations)
        now = time.monotonic()
        recent = [end for end, _ in self.durations if now - end <= 60]
        return {
            "running": len(self.running),
            "queued": len(self.waiting),
            "concurrency": self.settings.concurrency,
            "queue_size": self.settings.queue_size,
            "accepting": self.accepting,
            "finished": dict(self.finished),
            "tasks_per_s_last_minute": round(len(recent) / 60, 3),
            "duration_s": {"p50": _pct(durs, 50), "p95": _pct(durs, 95), "count": len(durs)},
        }


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return round(values[k], 4)
