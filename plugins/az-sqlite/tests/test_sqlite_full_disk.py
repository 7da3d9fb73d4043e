"""A real full disk: the az home on a small tmpfs that fills up in the middle of a task.

Root only (it mounts a tmpfs); elsewhere the test is skipped with the reason.
What must hold: the task that hit the full disk is marked interrupted with a
message saying the disk is full (no traceback, one line from ``az``); once
space is freed every command works again and nothing stored before is lost.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from az_os.testing import run_az, tmpfs_mount

SIZE = 3 * 1024 * 1024  # bytes: room for the database, little else


def _fill(path: Path) -> int:
    """Write ``path`` until the disk is full; the bytes written."""
    chunk = b"x" * 65536
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                written += os.write(fd, chunk)
            except OSError:
                if len(chunk) == 1:
                    return written
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def _turns(db: Path, task_id: str | None) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        if task_id is None:
            row = conn.execute(
                "SELECT COUNT(*) FROM turns t JOIN tasks k ON k.id = t.task_id "
                "WHERE k.status = 'running'"
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT COUNT(*) FROM turns WHERE task_id = ?", (task_id,)
            ).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.mark.slow
def test_a_disk_that_fills_mid_task_loses_nothing_and_every_command_recovers(
    tmp_path: Path, scripted_env: Any
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("some notes\n")
    with tmpfs_mount(tmp_path / "home", SIZE) as home:
        base = {"AZ_HOME": str(home)}

        def az(
            *args: str, steps: list[dict[str, Any]] | None = None, plugins: str | None = None
        ) -> Any:
            env = {**base, **scripted_env(steps or [])}
            if plugins:
                env["AZ_LOAD_PLUGINS"] = plugins
            return run_az(*args, env=env, cwd=work, timeout=180)

        # before: a finished task, a setting, a cost
        r = az("task", "run", "list the files", "--approve", "auto", "--json",
               steps=[{"tool": "filesystem.list", "arguments": {"path": "."}},
                      {"answer": "one file"}])  # fmt: skip
        assert r.returncode == 0, r
        first = r.json()["id"]
        assert az("config", "set", "agent.max_turns=12").returncode == 0

        # a task whose disk fills after its first turn: every later step writes
        big = "y" * 20000
        steps = [
            {"tool": "filesystem.read", "arguments": {"path": "notes.txt"}},
            {"sleep": 3.0, "tool": "filesystem.read", "arguments": {"path": "notes.txt"},
             "thought": big},
            {"tool": "filesystem.read", "arguments": {"path": "notes.txt"}, "thought": big},
            {"tool": "filesystem.read", "arguments": {"path": "notes.txt"}, "thought": big},
            {"answer": "done reading"},
        ]  # fmt: skip
        env = {**os.environ, "COLUMNS": "200", **base, **scripted_env(steps)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "az_os.cli", "task", "run", "read the notes", "--approve",
             "auto", "--json"],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        filler = home / "filler"
        try:
            deadline = time.monotonic() + 120
            while _turns(home / "az.db", None) < 1:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the task never stored its first turn"
                time.sleep(0.1)
            assert _fill(filler) > 0
            out, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode not in (0, 70), (out, err)
        line = _one_line(err)
        assert "disk is full" in line, line

        # while the disk is still full, reading works
        r = az("task", "list", "--json")
        assert r.returncode == 0, r
        by_id = {t["id"]: t for t in r.json()}
        assert by_id[first]["status"] == "completed"
        (second,) = [t for t in by_id.values() if t["id"] != first]
        assert second["status"] in ("interrupted", "failed"), second
        assert "disk is full" in (second["error"] or ""), second

        # a write while full: one clear line, no traceback
        r = az("config", "set", "agent.max_turns=13")
        if r.returncode != 0:
            assert "disk is full" in _one_line(r.stderr), r

        filler.unlink()

        # everything recorded before is still there and every command works again
        r = az("task", "show", first, "--json")
        assert r.returncode == 0 and r.json()["task"]["result"] == "one file", r
        r = az("task", "show", second["id"], "--json")
        assert r.returncode == 0 and r.json()["turns"], r
        r = az("log", "show", "-t", second["id"])
        assert r.returncode == 0 and "disk is full" in r.stdout, r
        if importlib.util.find_spec("az_cost") is not None:
            r = az("cost", "show", "--json", plugins="scripted,tools,sqlite,cost")
            assert r.returncode == 0, r
        r = az("db", "status", "--json")
        assert r.returncode == 0, r
        assert az("config", "get", "agent.max_turns").stdout.strip() in ("12", "13")
        r = az("task", "run", "list again", "--approve", "auto", "--json",
               steps=[{"tool": "filesystem.list", "arguments": {"path": "."}},
                      {"answer": "still one file"}])  # fmt: skip
        assert r.returncode == 0 and r.json()["status"] == "completed", r
        r = az("task", "resume", second["id"], "--approve", "auto", "--json",
               steps=[{"answer": "finished after all"}])  # fmt: skip
        assert r.returncode == 0 and r.json()["status"] == "completed", r
        conn = sqlite3.connect(home / "az.db")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 3
        finally:
            conn.close()
