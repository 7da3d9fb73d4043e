"""The real ``az`` executable (a subprocess) on a real database: task, log and db commands."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from az_os.types import (
    CostRecord,
    LogRecord,
    Message,
    Task,
    TaskPriority,
    TaskStatus,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
)
from az_sqlite.storage import SQLiteStorage

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _fill(home: Path) -> dict[str, Any]:
    s = SQLiteStorage(path=home / "az.db")
    ids = {}
    specs = [
        ("aaa100000000", TaskStatus.COMPLETED, TaskPriority.LOW, "list the files"),
        ("bbb200000000", TaskStatus.FAILED, TaskPriority.HIGH, "write primes.py"),
        ("ccc300000000", TaskStatus.COMPLETED, TaskPriority.HIGH, "explain the README"),
    ]
    for n, (tid, status, prio, desc) in enumerate(specs):
        s.create_task(
            Task(
                id=tid,
                description=desc,
                status=status,
                priority=prio,
                model="openai/gpt-4o-mini",
                created_at=T0 + timedelta(minutes=n),
                prompt_tokens=1000 * (n + 1),
                completion_tokens=10 * (n + 1),
                cost_usd=0.001 * (n + 1),
                result="the answer" if status == TaskStatus.COMPLETED else None,
                error="model unavailable" if status == TaskStatus.FAILED else None,
            )
        )
        ids[desc] = tid
    call = ToolCall(id="call_1", name="filesystem.list", arguments={"path": "."})
    s.add_turn(
        Turn(
            task_id="aaa100000000",
            index=1,
            model="openai/gpt-4o-mini",
            messages=[
                Message(role="assistant", content="I will look at the files.", tool_calls=[call]),
                Message(role="tool", tool_call_id="call_1", content='["a.py", "b.py"]'),
            ],
            tool_calls=[call],
            tool_results=[ToolResult(success=True, result=["a.py", "b.py"], duration_ms=2.0)],
            usage=Usage(prompt_tokens=600, completion_tokens=5, cost_usd=0.0006),
            model_duration_ms=300,
            tools_duration_ms=2,
        )
    )
    s.add_turn(
        Turn(
            task_id="aaa100000000",
            index=2,
            model="openai/gpt-4o-mini",
            messages=[Message(role="assistant", content="There are two files: a.py and b.py.")],
            usage=Usage(prompt_tokens=400, completion_tokens=5, cost_usd=0.0004),
        )
    )
    s.record_tool_usage("aaa100000000", "filesystem.list", 2.0)
    s.add_cost(CostRecord(task_id="aaa100000000", model="openai/gpt-4o-mini", cost_usd=0.001))
    now = datetime.now(UTC)
    s.add_log(
        LogRecord(
            task_id="aaa100000000",
            level="info",
            message="started",
            timestamp=now - timedelta(days=3),
        )
    )
    s.add_log(
        LogRecord(
            task_id="bbb200000000",
            level="error",
            message="model unavailable, giving up",
            timestamp=now - timedelta(hours=2),
        )
    )
    s.add_log(
        LogRecord(
            task_id="aaa100000000",
            level="warning",
            message="slow tool",
            timestamp=now - timedelta(minutes=5),
        )
    )
    s.add_log(
        LogRecord(
            task_id=None,
            level="debug",
            message="router picked gpt-4o-mini",
            timestamp=now - timedelta(minutes=1),
        )
    )
    s.close()
    return ids


# -- az task list ------------------------------------------------------------
def test_task_list_empty_says_how_to_start(az: Any) -> None:
    r = az("task", "list")
    assert r.returncode == 0, r
    assert "No tasks yet" in r.stdout and "az task run" in r.stdout
    assert az("task", "list", "--json").json() == []


def test_task_list_table_and_json(az: Any, az_home: Path) -> None:
    _fill(az_home)
    r = az("task", "list")
    assert r.returncode == 0, r
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines[0].split()[:3] == ["id", "status", "priority"]
    assert [line.split()[0] for line in lines[1:4]] == [
        "ccc300000000",
        "bbb200000000",
        "aaa100000000",
    ]
    assert "write primes.py" in r.stdout and "$0.0020" in r.stdout and "2,020" in r.stdout
    data = az("task", "list", "--json").json()
    assert [t["id"] for t in data] == ["ccc300000000", "bbb200000000", "aaa100000000"]
    assert data[1]["status"] == "failed" and data[1]["error"] == "model unavailable"
    assert data[0]["created_at"].startswith("2026-03-01T09:02:00")


def test_task_list_filters_and_paging(az: Any, az_home: Path) -> None:
    _fill(az_home)
    ids = lambda *a: [t["id"] for t in az("task", "list", "--json", *a).json()]  # noqa: E731
    assert ids("--status", "completed") == ["ccc300000000", "aaa100000000"]
    assert ids("--priority", "high") == ["ccc300000000", "bbb200000000"]
    assert ids("--status", "completed", "--priority", "HIGH") == ["ccc300000000"]
    assert ids("--limit", "1", "--offset", "1") == ["bbb200000000"]
    r = az("task", "list", "--limit", "2")
    assert "1-2 of 3" in r.stdout and "--offset 2" in r.stdout
    assert "No tasks match" in az("task", "list", "--status", "running").stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--status", "done"], "invalid --status 'done'"),
        (["--priority", "asap"], "invalid --priority 'asap'"),
    ],
)
def test_task_list_bad_filter_is_one_line(az: Any, args: list[str], fragment: str) -> None:
    r = az("task", "list", *args)
    assert r.returncode == 2 and r.stderr.strip() == r.stderr.strip().splitlines()[0], r
    assert fragment in r.stderr and "Traceback" not in r.stderr


# -- az task show ------------------------------------------------------------
def test_task_show_conversation(az: Any, az_home: Path) -> None:
    _fill(az_home)
    r = az("task", "show", "aaa1")
    assert r.returncode == 0, r
    out = r.stdout
    assert "task aaa100000000" in out and "completed" in out and "list the files" in out
    assert "turn 1" in out and "turn 2" in out
    assert "I will look at the files." in out
    assert "filesystem.list" in out and '{"path": "."}' in out and '["a.py", "b.py"]' in out
    assert "There are two files" in out
    assert "2 turns, 1 tool call," in out and "1,000 prompt + 10 completion tokens" in out
    assert "the answer" in out


def test_task_show_json(az: Any, az_home: Path) -> None:
    _fill(az_home)
    data = az("task", "show", "aaa100000000", "--json").json()
    assert data["task"]["id"] == "aaa100000000"
    assert [t["index"] for t in data["turns"]] == [1, 2]
    first = data["turns"][0]
    assert first["tool_calls"] == [
        {"id": "call_1", "name": "filesystem.list", "arguments": {"path": "."}}
    ]
    assert first["tool_results"][0]["result"] == ["a.py", "b.py"]
    assert first["messages"][1]["role"] == "tool"
    assert first["usage"]["prompt_tokens"] == 600
    assert data["tool_usage"] == [
        {"tool_name": "filesystem.list", "invocation_count": 1, "total_duration_ms": 2.0}
    ]
    assert data["totals"] == {
        "turns": 2,
        "tool_calls": 1,
        "model_duration_ms": 300.0,
        "tools_duration_ms": 2.0,
        "prompt_tokens": 1000,
        "completion_tokens": 10,
        "total_tokens": 1010,
        "cost_usd": 0.001,
    }


def test_task_show_failed_task_shows_error(az: Any, az_home: Path) -> None:
    _fill(az_home)
    r = az("task", "show", "bbb2")
    assert "failed" in r.stdout and "model unavailable" in r.stdout


@pytest.mark.parametrize("task_id", ["nope", "b0b", ""])
def test_task_show_unknown_id(az: Any, az_home: Path, task_id: str) -> None:
    _fill(az_home)
    r = az("task", "show", task_id)
    assert r.returncode == 4, r
    assert r.stderr.startswith("az: error: no task") and len(r.stderr.strip().splitlines()) == 1


# -- az task delete ----------------------------------------------------------
def test_task_delete_asks_then_deletes_everything(az: Any, az_home: Path) -> None:
    _fill(az_home)
    r = az("task", "delete", "aaa1", input="n\n")
    assert r.returncode != 0 and "aborted" in (r.stdout + r.stderr).lower()
    assert len(az("task", "list", "--json").json()) == 3
    r = az("task", "delete", "aaa1", input="y\n")
    assert r.returncode == 0 and "deleted task aaa100000000" in r.stdout, r
    assert [t["id"] for t in az("task", "list", "--json").json()] == [
        "ccc300000000",
        "bbb200000000",
    ]
    con = sqlite3.connect(az_home / "az.db")
    for table in ("turns", "cost_tracking", "tool_usage"):
        assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    assert (
        con.execute("SELECT COUNT(*) FROM task_logs WHERE task_id = 'aaa100000000'").fetchone()[0]
        == 0
    )
    con.close()
    assert az("task", "delete", "aaa1", "--yes").returncode == 4


def test_task_delete_refuses_a_live_running_task(az: Any, az_home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        s = SQLiteStorage(path=az_home / "az.db")
        s.create_task(
            Task(
                id="live00000001",
                description="busy",
                status="running",
                pid=proc.pid,
                host=socket.gethostname(),
            )
        )
        s.close()
        r = az("task", "delete", "live", "--yes")
        assert r.returncode == 1 and "is running" in r.stderr and "az task cancel" in r.stderr, r
    finally:
        proc.kill()
        proc.wait()


# -- az log ------------------------------------------------------------------
def test_log_show_filters(az: Any, az_home: Path) -> None:
    _fill(az_home)
    msgs = lambda *a: [r["message"] for r in az("log", "show", "--json", *a).json()]  # noqa: E731
    assert msgs() == [
        "started",
        "model unavailable, giving up",
        "slow tool",
        "router picked gpt-4o-mini",
    ]
    assert msgs("--level", "warning") == ["model unavailable, giving up", "slow tool"]
    assert msgs("--task", "aaa1") == ["started", "slow tool"]
    assert msgs("--since", "1h") == ["slow tool", "router picked gpt-4o-mini"]
    assert msgs("--since", "1d", "--level", "info") == ["model unavailable, giving up", "slow tool"]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert msgs("--since", yesterday) == msgs("--since", "24h")
    assert msgs("--limit", "1") == ["router picked gpt-4o-mini"]
    r = az("log", "show")
    assert r.returncode == 0 and "slow tool" in r.stdout and "warning" in r.stdout


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["--since", "last tuesday"], 2, "invalid --since 'last tuesday'"),
        (["--since", "2026-13-45"], 2, "invalid --since"),
        (["--level", "loud"], 2, "invalid --level 'loud'"),
        (["--task", "nope"], 4, "no task"),
    ],
)
def test_log_show_bad_input_is_one_line(
    az: Any, az_home: Path, args: list[str], code: int, fragment: str
) -> None:
    _fill(az_home)
    r = az("log", "show", *args)
    assert r.returncode == code, r
    assert fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_log_export(az: Any, az_home: Path, tmp_path: Path, fmt: str) -> None:
    _fill(az_home)
    out = tmp_path / f"logs.{fmt}"
    r = az("log", "export", "--format", fmt, "--output", str(out), "--level", "info")
    assert r.returncode == 0 and f"wrote 3 log rows to {out}" in r.stderr, r
    text = out.read_text()
    if fmt == "json":
        rows = json.loads(text)
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        for row in rows:
            row["task_id"] = row["task_id"] or None
    assert [r["message"] for r in rows] == ["started", "model unavailable, giving up", "slow tool"]
    assert set(rows[0]) == {"task_id", "timestamp", "level", "message"}
    assert rows[1]["task_id"] == "bbb200000000" and rows[1]["level"] == "error"
    assert datetime.fromisoformat(rows[0]["timestamp"]).tzinfo is not None


def test_log_export_to_stdout_and_bad_format(az: Any, az_home: Path) -> None:
    _fill(az_home)
    r = az("log", "export", "--format", "jsonl", "--output", "-")
    assert len(r.stdout.splitlines()) == 4
    r = az("log", "export", "--format", "xml", "--output", "x.xml")
    assert r.returncode == 2 and "invalid --format 'xml'" in r.stderr


# -- az db -------------------------------------------------------------------
def test_db_status_init_migrate(az: Any, az_home: Path) -> None:
    from az_sqlite import migrations

    r = az("db", "status", "--json")
    assert r.returncode == 0, r
    assert (
        r.json()["exists"] is False and not (az_home / "az.db").exists()
    )  # status creates nothing
    r = az("db", "init")
    assert r.returncode == 0 and "created" in r.stdout, r
    _fill(az_home)
    status = az("db", "status", "--json").json()
    assert status["path"] == str(az_home / "az.db")
    latest = len(migrations.MIGRATIONS)
    assert status["schema_version"] == status["latest_version"] == latest
    assert status["pending"] == []
    assert status["journal_mode"] == "wal" and status["size_bytes"] > 0
    assert status["tables"]["tasks"] == 3 and status["tables"]["turns"] == 2
    assert status["tables"]["task_logs"] == 4
    table = az("db", "status").stdout
    assert f"schema version  {latest} of {latest}" in table and "task_logs" in table
    assert "up to date" in az("db", "migrate").stdout
    r = az("db", "init")
    assert r.returncode == 0 and "already exists" in r.stdout
    assert len(az("task", "list", "--json").json()) == 3


def test_db_migrate_reports_what_it_applied(az: Any, az_home: Path) -> None:
    import peewee as pw
    from az_sqlite import migrations

    db = pw.SqliteDatabase(str(az_home / "az.db"))
    db.execute_sql("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    migrations.m001_initial(db)
    db.execute_sql("INSERT INTO _migrations VALUES ('m001_initial', 0)")
    db.execute_sql("PRAGMA user_version = 1")
    db.close()
    status = az("db", "status", "--json").json()
    later = [m.__name__ for m in migrations.MIGRATIONS[1:]]
    assert status["schema_version"] == 1 and status["pending"] == later
    assert later[:3] == ["m002_task_execution_fields", "m003_turns", "m004_tasks_updated_at"]
    r = az("db", "migrate")
    assert r.returncode == 0 and "applied " + ", ".join(later) in r.stdout, r
    assert az("db", "status", "--json").json()["pending"] == []


def test_db_init_force_backs_up_first(az: Any, az_home: Path) -> None:
    _fill(az_home)
    r = az("db", "init", "--force", input="n\n")
    assert r.returncode != 0
    assert len(az("task", "list", "--json").json()) == 3 and not list(az_home.glob("*.bak-*"))
    r = az("db", "init", "--force", input="y\n")
    assert r.returncode == 0 and "backed up" in r.stdout, r
    assert az("task", "list", "--json").json() == []
    backup = next(p for p in az_home.glob("az.db.bak-*") if not p.name.endswith(("-wal", "-shm")))
    assert len(SQLiteStorage(path=backup).list_tasks()) == 3  # the old data is all there


def test_commands_module_imports_light() -> None:
    code = (
        "import sys, az_os.commands.tasks, az_sqlite.plugin; "
        "heavy = [m for m in ('peewee', 'rich.table', 'psutil', 'az_os.types', "
        "'az_sqlite.storage') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
