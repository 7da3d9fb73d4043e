"""The real server: ``az serve`` in a subprocess on a free loopback port,
the scripted model plugin answering, a real SQLite file; driven with httpx."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

PLUGINS = "scripted,sqlite,tools,cost,server,telemetry"

#: az-tools is not part of the minimal headless install (nox -s server): there a
#: scripted tool call is an unknown tool, an observation the model reads
HAVE_TOOLS = importlib.util.find_spec("az_tools") is not None
HAVE_TELEMETRY = importlib.util.find_spec("az_telemetry") is not None
HAVE_COST = importlib.util.find_spec("az_cost") is not None
requires_tools = pytest.mark.skipif(
    not HAVE_TOOLS, reason="needs az-tools (not in the headless install)"
)


def _has_sqlite() -> bool:
    from az_os.drivers import storage_backends

    return "sqlite" in storage_backends()


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Every test here runs a server, which needs a storage backend."""
    if not _has_sqlite():
        skip = pytest.mark.skip(reason="needs az-sqlite (pip install -e plugins/az-sqlite)")
        for item in items:
            item.add_marker(skip)


class Server:
    """A running ``az serve``: ``url``, ``token``, ``client`` (authorised),
    ``proc``, ``stderr`` (lines so far)."""

    def __init__(self, proc: subprocess.Popen[str], url: str, token: str) -> None:
        self.proc = proc
        self.url = url
        self.token = token
        self.stderr: list[str] = []
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.anon = httpx.Client(base_url=url, timeout=30)

    def submit(self, description: str = "list the files", **body: Any) -> dict[str, Any]:
        r = self.client.post("/api/tasks", json={"description": description, **body})
        assert r.status_code == 202, r.text
        return dict(r.json())

    def events(self, task_id: str, until: set[str] | None = None) -> list[dict[str, Any]]:
        """The task's SSE events until the stream ends (or an event in ``until``)."""
        out: list[dict[str, Any]] = []
        with self.client.stream("GET", f"/api/tasks/{task_id}/events") as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            for event in parse_sse(resp.iter_lines()):
                out.append(event)
                if until and event["type"] in until:
                    break
        return out

    def wait_status(self, task_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task = self.client.get(f"/api/tasks/{task_id}").json()
            if task["status"] in statuses or time.monotonic() > deadline:
                return dict(task)
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.client.close()
        self.anon.close()
        return code


def parse_sse(lines: Any) -> Iterator[dict[str, Any]]:
    """Events of a text/event-stream: ``{"id", "type", ...data}``."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                data = json.loads(fields["data"])
                assert data["type"] == fields.get("event")
                assert str(data["seq"]) == fields.get("id")
                yield data
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value[1:] if value.startswith(" ") else value


@pytest.fixture
def workspace(az_home: Path) -> Path:
    ws = az_home / "workspaces" / "project"
    ws.mkdir(parents=True)
    (ws / "a.txt").write_text("a\n")
    (ws / "b.txt").write_text("b\n")
    return ws


@pytest.fixture
def start_server(
    az_home: Path, scripted_env: Callable[..., dict[str, str]]
) -> Iterator[Callable[..., Server]]:
    """``start_server(steps, env=None, args=(), plugins=PLUGINS, sites=())`` ->
    a running :class:`Server`; ``sites`` are more site dirs put on PYTHONPATH
    (test plugins declared there load when named in ``plugins``)."""
    servers: list[Server] = []

    def start(
        steps: list[dict[str, Any]],
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        plugins: str = PLUGINS,
        sites: tuple[Path, ...] = (),
    ) -> Server:
        full = dict(os.environ)
        full.update(scripted_env(steps, plugins=plugins))
        full["PYTHONPATH"] = os.pathsep.join([*map(str, sites), full["PYTHONPATH"]])
        full.update({"AZ_HOME": str(az_home), "PYTHONUNBUFFERED": "1"})
        full.update(env or {})
        proc = subprocess.Popen(
            [sys.executable, "-m", "az_os.cli", "serve", "--port", "0", *args],
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        lines: list[str] = []
        url = None
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while url is None:
            line = proc.stderr.readline()
            if not line:
                raise AssertionError(f"server exited {proc.wait()}: {''.join(lines)}")
            lines.append(line)
            if "serving on " in line:
                url = line.split("serving on ", 1)[1].strip()
            assert time.monotonic() < deadline, lines
        token_env = {**full}
        tok = subprocess.run(
            [sys.executable, "-m", "az_os.cli", "serve", "token"],
            capture_output=True,
            text=True,
            env=token_env,
            check=True,
        ).stdout.strip()
        server = Server(proc, url, tok)
        server.stderr = lines

        def drain() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line)

        threading.Thread(target=drain, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
