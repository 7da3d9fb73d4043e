"""A process killed with SIGKILL while writing leaves a consistent database,
and its running task is marked interrupted when the database is next opened."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from az_os.types import Task, TaskStatus
from az_sqlite.storage import SQLiteStorage

WRITER = """
import sys
from az_os.types import LogRecord, Message, Task, Turn, utcnow
from az_sqlite.storage import SQLiteStorage

s = SQLiteStorage(path=sys.argv[1])
t = s.create_task(Task(id="crash0000001", description="dies mid-write", status="running",
                       started_at=utcnow()))
i = 0
while True:
    i += 1
    # One turn, its log row and the task's running total commit together.
    with s.db.atomic():
        msg = Message(role="assistant", content="x" * 4000)
        s.add_turn(Turn(task_id=t.id, index=i, messages=[msg]))
        s.add_log(LogRecord(task_id=t.id, message=f"turn {i}"))
        t.prompt_tokens = i
        s.update_task(t)
    if i % 25 == 0:
        # A big bulk write (one transaction of 20,000 rows) the kill may land in.
        s.add_logs([LogRecord(task_id=None, message=f"bulk {i} {n}") for n in range(20000)])
"""


def _count(path: Path, sql: str) -> int:
    con = sqlite3.connect(path, timeout=30)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_mid_write_leaves_consistent_db_and_task_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, "writer died on its own"
            assert time.monotonic() < deadline, "writer made no progress"
            if path.exists():
                try:
                    bulk = _count(path, "SELECT COUNT(*) FROM task_logs WHERE task_id IS NULL")
                    turns = _count(path, "SELECT COUNT(*) FROM turns")
                except sqlite3.OperationalError:
                    bulk = turns = 0
                if bulk >= 20000 and turns >= 60:
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    s = SQLiteStorage(path=path)
    assert s.integrity_check() == "ok"
    assert s.interrupted == ["crash0000001"]
    task = s.get_task("crash0000001")
    assert task.status == TaskStatus.INTERRUPTED
    assert task.error and str(proc.pid) in task.error
    turns = s.list_turns(task.id)
    n = len(turns)
    assert [t.index for t in turns] == list(range(1, n + 1))  # no gap, no half turn
    turn_logs = [r for r in s.list_logs(task_id=task.id) if r.message.startswith("turn ")]
    assert len(turn_logs) == n and task.prompt_tokens == n  # committed together or not at all
    assert any(
        r.level == "warning" and "interrupted" in r.message for r in s.list_logs(task_id=task.id)
    )
    bulk = _count(path, "SELECT COUNT(*) FROM task_logs WHERE task_id IS NULL")
    assert bulk > 0 and bulk % 20000 == 0  # whole bulk transactions only
    s.close()
    # Opening again finds nothing more to mark.
    assert SQLiteStorage(path=path).interrupted == []


SLEEPER = """
import sys, time
from az_os.types import Task
from az_sqlite.storage import SQLiteStorage
s = SQLiteStorage(path=sys.argv[1])
s.create_task(Task(id="alive0000001", description="still running", status="running"))
print("ready", flush=True)
time.sleep(60)
"""


def test_running_task_of_a_live_process_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEPER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        s = SQLiteStorage(path=path)
        assert s.interrupted == []
        assert s.get_task("alive0000001").status == TaskStatus.RUNNING
        s.close()
    finally:
        proc.kill()
        proc.wait()
    assert SQLiteStorage(path=path).interrupted == ["alive0000001"]


def test_only_tasks_of_this_host_are_judged(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    s = SQLiteStorage(path=path)
    dead_pid = _dead_pid()
    s.create_task(
        Task(id="elsewhere001", description="x", status="running", pid=dead_pid, host="other-host")
    )
    s.create_task(Task(id="finished0001", description="y", status="completed", pid=dead_pid))
    s.close()
    s = SQLiteStorage(path=path)
    assert s.interrupted == []
    assert s.get_task("elsewhere001").status == TaskStatus.RUNNING


def test_reused_pid_counts_as_gone(tmp_path: Path) -> None:
    """The pid exists but belongs to a process started after the task's last write."""
    import os
    import socket
    from datetime import timedelta

    from az_os.types import utcnow

    path = tmp_path / "az.db"
    s = SQLiteStorage(path=path)
    t = Task(description="old", status="running", pid=os.getpid(), host=socket.gethostname())
    s.create_task(t)
    # Pretend the last write happened an hour before this process started.
    s.db.execute_sql(
        "UPDATE tasks SET updated_at = ? WHERE id = ?",
        ((utcnow() - timedelta(hours=1)).timestamp() - _process_age(), t.id),
    )
    s.close()
    assert SQLiteStorage(path=path).interrupted == [t.id]


def _process_age() -> float:
    import psutil

    return time.time() - psutil.Process().create_time()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_cli_lists_the_interrupted_task(az: Any, az_home: Path) -> None:
    import socket

    s = SQLiteStorage(path=az_home / "az.db")
    s.create_task(
        Task(
            id="gone00000001",
            description="x",
            status="running",
            pid=_dead_pid(),
            host=socket.gethostname(),
        )
    )
    s.close()
    r = az("task", "list", "--json")
    assert r.returncode == 0, r
    assert [(t["id"], t["status"]) for t in r.json()] == [("gone00000001", "interrupted")]
