"""Running the app under uvicorn with az's graceful stop.

On SIGTERM/SIGINT uvicorn stops accepting connections; at the same moment
the task manager stops taking tasks, interrupts the queued ones and gives
the running ones ``server.shutdown_timeout_s`` seconds to finish before it
interrupts them too (their event streams end then, so uvicorn's wait for
open connections ends with them).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from az_server.settings import ServerSettings


def run(settings: ServerSettings, token: str, config: Any, host: Any) -> None:
    """Serve until SIGTERM/SIGINT; prints the address on stderr once listening."""
    import uvicorn

    from az_server.app import create_app

    app = create_app(settings, token, config=config, host=host)

    class Server(uvicorn.Server):
        _loop: Any = None  # the serving loop, set by startup()

        def handle_exit(self, sig: int, frame: Any) -> None:
            manager = getattr(app.state, "manager", None)
            if manager is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(manager.begin_shutdown)
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after its shutdown, so the process
            # would die by the signal; a graceful stop is a normal exit (0) here
            with super().capture_signals():
                yield
                stopped_by = list(self._captured_signals)
                self._captured_signals.clear()
            if stopped_by:
                sys.stderr.write("az: server stopped\n")

        async def startup(self, sockets: Any = None) -> None:
            import asyncio

            self._loop = asyncio.get_running_loop()
            await super().startup(sockets)
            if self.started:
                for server in self.servers:
                    for sock in server.sockets:
                        addr = sock.getsockname()
                        sys.stderr.write(f"az: serving on http://{addr[0]}:{addr[1]}\n")
                sys.stderr.flush()

    cfg = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s) + 15,
    )
    server = Server(cfg)
    server.run()
