"""Fixtures for az-telemetry: a loopback HTTP server that records requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Recorder(ThreadingHTTPServer):
    """Answers every request with ``status`` and keeps ``(method, path, body)``."""

    status = 200
    requests: list[tuple[str, str, bytes]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_HEAD = _answer  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_recorder() -> Iterator[Recorder]:
    server = Recorder(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _has_sqlite() -> bool:
    from az_os.drivers import storage_backends

    return "sqlite" in storage_backends()


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """The checks and metrics read a real database: without a storage backend
    (the plugin-alone session) they are skipped."""
    if not _has_sqlite():
        skip = pytest.mark.skip(reason="needs az-sqlite (pip install -e plugins/az-sqlite)")
        for item in items:
            item.add_marker(skip)
