"""Running tasks from the dashboard: the kernel's engine in worker threads,
and the approval prompts of the kernel's policy answered in the UI.

Each task started (or resumed) here runs ``ExecutionEngine.execute_stream``
on its own event loop in its own thread, so a model call or tool never
stalls the screen. Tool calls that the approval policy sends to ``ask``
reach :meth:`Runner.prompt`, installed with the policy's ``set_prompter``
(the same seam the CLI's ``--approve ask`` uses on a terminal), which
blocks that task's thread until the user answers in the UI.

Each of those tasks is claimed in storage for the dashboard (owner
``az-dashboard@HOST:PID``, the kernel's :class:`~az_os.claims.TaskClaims`),
as ``az serve`` and the Celery workers claim theirs: ``az task cancel`` from
another terminal then signals no process (it would stop the whole
dashboard); the claims thread reads the stored status about once a second
and stops that task only. A resumed task takes over the claim its earlier
run (a worker's, a server's) left behind.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    from az_os.claims import TaskClaims
    from az_os.engine import ExecutionEngine
    from az_os.types import Task

    from az_tui.data import Source

Answer = Literal["approve", "deny", "always"]

#: ``ask(task, description, arguments, reply)``: show the question (the policy's
#: one-line description and the call's full arguments); call ``reply(answer)`` once.
AskUser = Callable[["Task", str, "dict[str, Any] | None", Callable[[Answer], None]], None]


@dataclass
class _Running:
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop | None = None
    main: asyncio.Task[Any] | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        """Cancel the run (thread-safe; the engine records it cancelled)."""
        if self.loop is not None and self.main is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.main.cancel)


class Runner:
    """Tasks of this process. ``on_event(event)`` is called (from the task's
    thread) with every engine event dict; ``ask`` shows approval questions."""

    def __init__(
        self,
        source: Source,
        on_event: Callable[[dict[str, Any]], None],
        ask: AskUser,
    ) -> None:
        self.source = source
        self.on_event = on_event
        self.ask = ask
        self._engine: ExecutionEngine | None = None
        self._claims: TaskClaims | None = None
        self._running: dict[str, _Running] = {}
        self._always: set[str] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._previous_prompter: Any = None

    # -- approval ------------------------------------------------------------
    def install(self) -> None:
        """Make the kernel's approval policy ask through this runner."""
        from az_os.default_plugins import policy

        self._previous_prompter = policy._prompter
        policy.set_prompter(self.prompt)

    def uninstall(self) -> None:
        """Give the policy its previous prompter back; pending questions are denied."""
        from az_os.default_plugins import policy

        self._closed.set()
        if policy._prompter == self.prompt:
            policy.set_prompter(self._previous_prompter)

    def prompt(self, task: Task, description: str) -> bool:
        """The policy's prompter: True to run the call. Blocks the calling
        (task) thread until the user answers; "always" approves the rest of
        this task's calls without asking."""
        if task.id in self._always:
            return True
        if self._closed.is_set():
            return False
        answered = threading.Event()
        box: list[Answer] = []

        def reply(answer: Answer) -> None:
            if not box:
                box.append(answer)
            answered.set()

        from az_os.default_plugins import policy

        call = policy.asking.get()
        self.ask(task, description, call.arguments if call is not None else None, reply)
        while not answered.wait(0.1):
            if self._closed.is_set():
                return False
        if box[0] == "always":
            self._always.add(task.id)
        return box[0] in ("approve", "always")

    # -- running -------------------------------------------------------------
    @property
    def engine(self) -> ExecutionEngine:
        if self._engine is None:
            from az_os.engine import ExecutionEngine

            src = self.source
            self._engine = ExecutionEngine(src.config, src.storage, src.host)
        return self._engine

    @property
    def claims(self) -> TaskClaims:
        """The claims of the tasks this process runs (``az-dashboard@HOST:PID``)."""
        from az_os.claims import TaskClaims, owner_id

        with self._lock:  # task threads start at once
            if self._claims is None:
                self._claims = TaskClaims(lambda: self.source.storage, owner_id("az-dashboard"))
            return self._claims

    def is_running(self, task_id: str) -> bool:
        """True while ``task_id`` runs in this process."""
        with self._lock:
            return task_id in self._running

    def start(self, task: Task, tools: list[str] | None = None) -> None:
        """Run ``task`` (new) in a thread, claimed as soon as it is stored."""

        def stream(run: _Running) -> Any:
            async def events() -> Any:
                async for event in self.engine.execute_stream(task, tools):
                    if event["type"] == "created":  # stored: claim it before it runs
                        await asyncio.to_thread(self.claims.claim, task.id, run.stop)
                    yield event

            return events()

        self._spawn(task.id, stream)

    def resume(self, task_id: str) -> None:
        """Resume a stored task in a thread, taking over the claim its last
        run left; errors (a completed task, one another process runs) arrive
        as a ``warning`` event."""

        def stream(run: _Running) -> Any:
            async def events() -> Any:
                task = await self.engine.prepare_resume(task_id)
                await asyncio.to_thread(self.claims.take_over, task, run.stop)
                async for event in self.engine.execute_stream(task):
                    yield event

            return events()

        self._spawn(task_id, stream)

    def _spawn(self, task_id: str, make_stream: Callable[[_Running], Any]) -> None:
        run = _Running(thread=threading.Thread(target=lambda: None))

        def body() -> None:
            loop = asyncio.new_event_loop()

            async def consume() -> None:
                async for event in make_stream(run):
                    self.on_event(event)

            run.loop = loop
            run.main = loop.create_task(consume())
            run.ready.set()
            try:
                loop.run_until_complete(run.main)
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # noqa: BLE001 - shown, never fatal to the app
                self.on_event(
                    {
                        "type": "warning",
                        "task_id": task_id,
                        "data": {"message": f"{type(exc).__name__}: {exc}"},
                    }
                )
            finally:
                if self._claims is not None:
                    self._claims.release(task_id)
                with self._lock:
                    self._running.pop(task_id, None)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                self.on_event({"type": "stopped", "task_id": task_id, "data": {}})

        run.thread = threading.Thread(target=body, name=f"az-task-{task_id}", daemon=True)
        with self._lock:
            self._running[task_id] = run
        run.thread.start()

    def cancel(self, task_id: str) -> str:
        """Cancel a running task: here by cancelling its run (the engine records
        it as cancelled), in another process as ``az task cancel`` does.
        Returns a one-line message."""
        with self._lock:
            run = self._running.get(task_id)
        if run is not None:
            run.ready.wait(5)
            run.stop()
            return f"cancelling task {task_id}"
        proc = az_command("task", "cancel", task_id)
        return (
            (proc.stdout or proc.stderr).strip().splitlines()[-1]
            if (proc.stdout or proc.stderr)
            else f"az task cancel exited {proc.returncode}"
        )

    def undo(self, task_id: str) -> str:
        """Take back the task's last changing turn with the checkpoint
        plugin's ``az undo`` (only offered when :meth:`Source.can_undo`)."""
        proc = az_command("undo", task_id, "--steps", "1", "--yes")
        out = (proc.stdout + proc.stderr).strip().splitlines()
        return out[-1] if out else f"az undo exited {proc.returncode}"

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every task of this process and wait for them to record it."""
        self.uninstall()
        with self._lock:
            runs = list(self._running.values())
        for run in runs:
            run.stop()
        for run in runs:
            run.thread.join(timeout)
        if self._claims is not None:
            self._claims.close()


def az_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``az ARGS`` (this interpreter's az) and return what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
