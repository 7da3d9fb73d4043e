"""Several az processes writing one file at once: no "database is locked",
every row arrives, counters add up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from az_sqlite.storage import SQLiteStorage

WORKER = """
import sys
from az_os.types import LogRecord, Task
from az_sqlite.storage import SQLiteStorage

path, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = SQLiteStorage(path=path)
task = s.create_task(Task(id=f"worker{worker:06d}", description=f"worker {worker}"))
for i in range(n):
    if i % 2:
        s.add_log(LogRecord(task_id=task.id, message=f"{worker}:{i}"))
    else:
        # the same row for every process: a read-modify-write that must not lose updates
        s.record_tool_usage(None, "shared.tool", 1.0)
print("done", flush=True)
"""

PROCESSES = 8
WRITES = 500


@pytest.mark.slow
def test_8_processes_x_500_writes_all_arrive(tmp_path: Path) -> None:
    path = tmp_path / "az.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(w), str(WRITES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0 and out.strip() == "done", err[-2000:]
        assert "locked" not in err
    s = SQLiteStorage(path=path)
    assert s.count_tasks() == PROCESSES
    logs = s.list_logs()
    expected = {f"{w}:{i}" for w in range(PROCESSES) for i in range(WRITES) if i % 2}
    assert len(logs) == len(expected) and {r.message for r in logs} == expected
    usage = s.list_tool_usage()
    assert [(u.tool_name, u.invocation_count) for u in usage] == [
        ("shared.tool", PROCESSES * WRITES // 2)
    ]
    assert usage[0].total_duration_ms == pytest.approx(PROCESSES * WRITES / 2)
    assert s.integrity_check() == "ok"
