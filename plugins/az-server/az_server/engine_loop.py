"""The event loop the server's tasks run on: its own thread, not the one
answering HTTP requests.

The engine calls the plugins' hooks synchronously (``az_task_event``,
``az_before_model_call``/``az_after_model_call``, ``az_before_tool_call``/
``az_after_tool_call``, ``az_context``, a router's choice, ...): az-cost
writes a cost row, az-telemetry counts metrics, any plugin may block for a
while. Run on the server's loop, every request would wait behind them. Here
they block only the engine loop (and so the other running tasks, as any
blocking call in an async program does), never a request.

One loop for the life of the server, so what plugins keep per event loop (an
MCP session, a provider's HTTP client) is made once, as in a single ``az
run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class EngineLoop:
    """A daemon thread running an asyncio loop until :meth:`close`.

    ``threads`` is the size of that loop's default executor: the engine's
    storage writes and blocking model calls run there (``asyncio.to_thread``)."""

    def __init__(self, threads: int, name: str = "az-engine") -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"{name}-io")
        )
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()

    async def stream(
        self,
        events: Callable[[], AsyncIterator[dict[str, Any]]],
        publish: Callable[[dict[str, Any]], None],
    ) -> None:
        """Iterate ``events()`` on the engine loop; call ``publish(event)`` on
        the calling loop for each, in order, before this returns. Raises
        what the iteration raised. Cancelling the caller cancels the
        iteration there and waits until it has ended (the engine stores the
        task as cancelled or interrupted first), then raises
        ``CancelledError``."""
        caller = asyncio.get_running_loop()
        done: asyncio.Future[None] = caller.create_future()
        box: list[asyncio.Task[None]] = []

        async def drive() -> None:
            async for event in events():
                caller.call_soon_threadsafe(publish, event)

        def settle(task: asyncio.Task[None]) -> None:  # on the caller's loop
            if done.done():
                return
            if task.cancelled():
                done.cancel()
            elif (exc := task.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(None)

        def start() -> None:  # on the engine loop
            task = self.loop.create_task(drive())
            # scheduled after every publish of the run: callbacks keep their order
            task.add_done_callback(lambda t: caller.call_soon_threadsafe(settle, t))
            box.append(task)

        self.loop.call_soon_threadsafe(start)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            if not done.done():
                # start() ran before this (one FIFO of callbacks), so box holds the task
                self.loop.call_soon_threadsafe(lambda: box[0].cancel())
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await done
            raise

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop (after the callbacks already scheduled) and wait for
        its thread, at most ``timeout`` seconds."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
