"""Helpers for az-mcp's tests: paths of the test servers, config writers,
the real CLI in a subprocess, process checks, and az's server over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from az_os.testservers import free_port

SERVERS = Path(__file__).parent / "servers"
FLAKY = str(SERVERS / "flaky_server.py")
RAW = str(SERVERS / "raw_server.py")
SERVE_DEMO = str(SERVERS / "serve_demo.py")
PY = sys.executable


def add_server(name: str, table: dict[str, Any]) -> None:
    """Write [mcp.servers.NAME] into the current AZ_HOME's config.toml."""
    from az_os.config import set_value

    set_value(f"mcp.servers.{name}", table)


def time_server(**extra: Any) -> dict[str, Any]:
    return {"command": PY, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"], **extra}


def flaky_server(mode: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"command": PY, "args": [FLAKY, mode], **extra}


def run_az(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (`python -m az_os.cli`) with the current environment."""
    return subprocess.run(
        [PY, "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@contextlib.contextmanager
def http_server(home: Path, extra: list[str]) -> Iterator[str]:
    """Start serve_demo.py over HTTP on a free port; yield its /mcp URL."""
    port = free_port()
    proc = subprocess.Popen(
        [PY, SERVE_DEMO, "--transport", "http", "--port", str(port), *extra],
        env={**os.environ, "AZ_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError as exc:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        f"server did not start: {proc.stderr.read() if proc.stderr else ''}"
                    ) from exc
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def children_of(pid: int) -> list[int]:
    """Pids of the live child processes of ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out
