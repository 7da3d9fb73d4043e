"""az on PostgreSQL end to end: real `az` processes, a real server on a
loopback port (started by the session), the scripted model plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from az_os.testservers import PG_PASSWORD, postgres_server


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    for n in ("one.txt", "two.txt", "three.txt"):
        (ws / n).write_text(n)
    return ws


def _env(scripted_env: Any, steps: list[dict[str, Any]], dsn: str) -> dict[str, str]:
    env = scripted_env(steps, plugins="scripted,tools,postgres")
    env.update(AZ_STORAGE__BACKEND="postgres", AZ_STORAGE__DSN=dsn)
    return env


STEPS = [{"tool": "filesystem.list", "arguments": {"path": "."}}, {"answer": "3 files"}]


def _run(az: Any, env: dict[str, str], ws: Path, what: str = "How many files?") -> Any:
    return az(
        "task", "run", what, "-m", "cheap", "-w", str(ws), "--approve", "auto", "--json", env=env
    )


def test_kernel_commands_work_unchanged_on_postgres(
    az: Any, scripted_env: Any, pg_dsn: str, ws: Path
) -> None:
    env = _env(scripted_env, STEPS, pg_dsn)
    r = _run(az, env, ws)
    assert r.returncode == 0, r
    out = r.json()
    assert (out["status"], out["result"], out["turns"]) == ("completed", "3 files", 2)
    listed = az("task", "list", "--json", env=env).json()
    rows = listed["tasks"] if isinstance(listed, dict) else listed
    assert [t["id"] for t in rows] == [out["id"]]
    shown = az("task", "show", out["id"][:6], "--json", env=env)
    assert shown.returncode == 0 and out["id"] in shown.stdout and "filesystem.list" in shown.stdout
    logs = az("log", "show", "--task", out["id"], "--json", env=env)
    assert logs.returncode == 0 and "task completed" in logs.stdout
    # the rows are in PostgreSQL, not in a SQLite file
    import psycopg

    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT status FROM tasks").fetchall() == [("completed",)]
        assert conn.execute("SELECT COUNT(*) FROM turns").fetchone() == (2,)
    assert not list(Path(os.environ["AZ_HOME"]).glob("*.db"))
    r = az("task", "delete", out["id"], "--yes", env=env)
    assert r.returncode == 0, r
    listed = az("task", "list", "--json", env=env).json()
    assert (listed["tasks"] if isinstance(listed, dict) else listed) == []


def test_password_from_the_secret_and_a_clear_error_without_it(
    az: Any, scripted_env: Any, pg_dsn: str, ws: Path
) -> None:
    no_password = pg_dsn.replace(f":{PG_PASSWORD}@", "@")
    env = _env(scripted_env, [], no_password)
    env["PGPASSFILE"] = "/nonexistent"
    r = az("task", "list", env=env)
    assert r.returncode == 5, r
    assert r.stderr.count("\n") == 1 and "login refused" in r.stderr and PG_PASSWORD not in r.stderr
    env["AZ_POSTGRES_PASSWORD"] = PG_PASSWORD
    assert az("task", "list", "--json", env=env).returncode == 0


def test_missing_dsn_is_one_line(az: Any) -> None:
    r = az("task", "list", env={"AZ_STORAGE__BACKEND": "postgres"})
    assert r.returncode == 5 and "storage.dsn" in r.stderr and r.stderr.count("\n") == 1, r


def test_unreachable_server_is_one_line(az: Any) -> None:
    from az_os.testservers import free_port

    dsn = f"postgresql://az:x@127.0.0.1:{free_port()}/az"
    r = az("task", "list", env={"AZ_STORAGE__BACKEND": "postgres", "AZ_STORAGE__DSN": dsn})
    assert r.returncode == 5 and "cannot reach PostgreSQL" in r.stderr, r
    assert r.stderr.count("\n") == 1 and ":x@" not in r.stderr


def test_db_copy_from_sqlite_moves_everything_and_is_safe_to_rerun(
    az: Any, scripted_env: Any, pg_dsn: str, ws: Path
) -> None:
    sqlite_env = scripted_env(STEPS * 3, plugins="scripted,tools,sqlite,cost")
    ids = []
    for i in range(3):
        r = _run(az, sqlite_env, ws, f"task {i}")
        assert r.returncode == 0, r
        ids.append(r.json()["id"])
    env = {"AZ_STORAGE__DSN": pg_dsn}
    r = az("db", "copy", "--from", "sqlite", "--to", "postgres", "--json", env=env)
    assert r.returncode == 0, r
    tables = r.json()["tables"]
    assert set(tables) == {
        "tasks",
        "turns",
        "task_logs",
        "cost_tracking",
        "task_state",
        "tool_usage",
        "checkpoints",
    }
    assert tables["tasks"] == {"source": 3, "copied": 3, "present": 0, "destination": 3}
    assert tables["turns"]["source"] == 6 and tables["turns"]["destination"] == 6
    for name, n in tables.items():
        assert n["copied"] == n["source"] == n["destination"], name
        assert n["source"] > 0 or name == "checkpoints", name  # az-git is not loaded here
    again = az("db", "copy", "--from", "sqlite", "--to", "postgres", "--json", env=env).json()
    for name, n in again["tables"].items():
        assert n["copied"] == 0 and n["present"] == n["source"] == n["destination"], name
    # the copied history reads the same through the other backend
    pg = {"AZ_STORAGE__BACKEND": "postgres", "AZ_STORAGE__DSN": pg_dsn}
    pg_list = az("task", "list", "--json", env=pg).json()
    sq_list = az("task", "list", "--json").json()
    assert pg_list == sq_list
    shown = az("task", "show", ids[0], "--json", env=pg).json()
    assert shown == az("task", "show", ids[0], "--json").json()
    text = az("db", "copy", "--from", "sqlite", "--to", "postgres", env=env)
    assert "counts checked" in text.stdout


def _wait_status(az: Any, env: dict[str, str], status: str, timeout: float = 30) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = az("task", "list", "--status", status, "--json", env=env)
        if r.returncode == 0:
            data = r.json()
            rows = data["tasks"] if isinstance(data, dict) else data
            if rows:
                return str(rows[0]["id"])
        time.sleep(0.3)
    raise AssertionError(f"no task became {status}")


@pytest.mark.slow
def test_connection_loss_mid_task_is_a_clear_error_and_the_task_interrupted(
    az: Any, scripted_env: Any, ws: Path, az_home: Path
) -> None:
    with postgres_server() as server:
        dsn = server.create_database()
        steps = [
            {"tool": "filesystem.list", "arguments": {"path": "."}},
            {"sleep": 10, "answer": "too late"},
        ]
        env = _env(scripted_env, steps, dsn)
        full = {**os.environ, "AZ_HOME": str(az_home), **env}
        proc = subprocess.Popen(
            [sys.executable, "-m", "az_os.cli", "task", "run", "slow", "-m", "cheap"]
            + ["-w", str(ws), "--approve", "auto"],
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        task_id = _wait_status(az, env, "running")
        time.sleep(1.5)  # the first turn is stored, the slow call is in flight
        server.stop("fast")  # the server goes away and stays away
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 5, (out, err)
        last = err.strip().splitlines()[-1]
        assert last.startswith("az: error: cannot reach PostgreSQL at postgresql://az@127.0.0.1:")
        assert "Traceback" not in err and PG_PASSWORD not in err
        server.start()
        shown = az("task", "show", task_id, "--json", env=env).json()
        task = shown.get("task", shown)
        assert task["status"] == "interrupted"
        r = az("task", "resume", task_id, "--json", env=_env(scripted_env, [{"answer": "3"}], dsn))
        assert r.returncode == 0, r
        assert r.json()["status"] == "completed" and r.json()["turns"] >= 2


@pytest.mark.slow
def test_a_server_restart_between_calls_is_survived(
    scripted_env: Any, ws: Path, az_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dropped connection is retried once on a new one: a restart between
    two writes costs nothing."""
    from az_os.types import LogRecord, Task
    from az_postgres.storage import PostgresStorage

    with postgres_server() as server:
        s = PostgresStorage(dsn=server.create_database())
        t = s.create_task(Task(description="x"))
        server.stop("fast")
        server.start()
        s.add_log(LogRecord(task_id=t.id, message="after the restart"))
        assert [r.message for r in s.list_logs(task_id=t.id)] == ["after the restart"]
        s.close()
