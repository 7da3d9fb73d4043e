"""A read-only az home: commands that only read work, commands that write say why they cannot.

The home is made read-only for real: a read-only bind mount when the tests
run as root (root ignores mode bits), ``chmod`` otherwise. Each case runs
twice: on a cleanly closed database (everything in the main file, no
``-wal``/``-shm``) and on one whose last writes are still in its
write-ahead log (a process that died without a checkpoint).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from az_os.testing import read_only_mount, run_az

ROOT = os.geteuid() == 0


def _chmod_tree(path: Path, writable: bool) -> None:
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        if writable:
            p.chmod(mode | stat.S_IWUSR)
        else:
            p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@contextlib.contextmanager
def read_only(home: Path, tmp_path: Path, how: str) -> Iterator[Path]:
    """``home`` as a read-only directory; yields the path to use as AZ_HOME."""
    if how == "mount":
        with read_only_mount(home, tmp_path / "ro-home") as target:
            yield target
        return
    if ROOT:
        pytest.skip("root ignores mode bits: the read-only mount case covers root")
    _chmod_tree(home, writable=False)
    try:
        yield home
    finally:
        _chmod_tree(home, writable=True)


def _leave_wal(db: Path) -> None:
    """Commit one more task and die without a checkpoint: its rows stay in
    the ``-wal`` file (with its ``-shm``), as after a crash."""
    code = f"""
import os, sqlite3
from az_os.types import Task
from az_sqlite.storage import SQLiteStorage
s = SQLiteStorage(path={str(db)!r})
s.db.execute_sql("PRAGMA wal_autocheckpoint = 0")
s.create_task(Task(id="walonly00001", description="only in the WAL"))
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert (db.parent / "az.db-wal").stat().st_size > 0


@pytest.fixture
def filled_home(az_home: Path, scripted_env: Any) -> dict[str, Any]:
    """A home with one finished task (turns, a tool call, logs, cost) and a config file."""
    env = scripted_env(
        [{"tool": "filesystem.list", "arguments": {"path": "."}}, {"answer": "two files"}]
    )
    r = run_az(
        "task", "run", "list the files", "--approve", "auto", "--json",
        env={**env, "AZ_HOME": str(az_home)}, cwd=az_home.parent,
    )  # fmt: skip
    assert r.returncode == 0, r
    task_id = r.json()["id"]
    assert (
        run_az("config", "set", "agent.max_turns=7", env={"AZ_HOME": str(az_home)}).returncode == 0
    )
    return {"home": az_home, "task": task_id, "env": env}


WRITES = [
    ("task", "run", "say hi", "--approve", "auto"),
    ("config", "set", "agent.max_turns=9"),
    ("db", "init", "--force", "--yes"),
]


@pytest.mark.parametrize("wal", [False, True], ids=["clean", "wal"])
@pytest.mark.parametrize("how", ["mount", "chmod"])
def test_reading_commands_work_and_writing_ones_say_the_home_is_read_only(
    filled_home: dict[str, Any], tmp_path: Path, how: str, wal: bool
) -> None:
    home: Path = filled_home["home"]
    task_id = filled_home["task"]
    if wal:
        _leave_wal(home / "az.db")
    before = sorted(p.name for p in home.iterdir())
    with read_only(home, tmp_path, how) as ro:
        env = {**filled_home["env"], "AZ_HOME": str(ro)}

        def az(*args: str, plugins: str | None = None) -> Any:
            extra = {"AZ_LOAD_PLUGINS": plugins} if plugins else {}
            return run_az(*args, env={**env, **extra}, cwd=tmp_path, timeout=120)

        r = az("task", "list", "--json")
        assert r.returncode == 0, r
        ids = {t["id"] for t in r.json()}
        assert task_id in ids and (not wal or "walonly00001" in ids), ids
        assert r.stderr == "", r

        r = az("task", "show", task_id, "--json")
        assert r.returncode == 0 and r.json()["task"]["result"] == "two files", r
        r = az("task", "show", task_id)
        assert r.returncode == 0 and "filesystem.list" in r.stdout, r
        r = az("log", "show", "-t", task_id)
        assert r.returncode == 0 and "task completed" in r.stdout, r
        if importlib.util.find_spec("az_cost") is not None:
            r = az("cost", "show", "--json", plugins="scripted,tools,sqlite,cost")
            assert r.returncode == 0, r
        r = az("db", "status", "--json")
        assert r.returncode == 0 and r.json()["tables"]["tasks"] == (2 if wal else 1), r
        r = az("config", "get", "agent.max_turns")
        assert r.returncode == 0 and r.stdout.strip() == "7", r

        r = az("db", "migrate")  # nothing to migrate: no need to write
        assert r.returncode == 0 and "up to date" in r.stdout, r
        for args in [*WRITES, ("task", "delete", task_id, "--yes")]:
            r = az(*args)
            assert r.returncode not in (0, 70), (args, r)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, (args, r)
            assert "read-only" in lines[0] and str(ro) in lines[0], (args, r)
            assert "cannot open the database file" not in r.stderr, (args, r)
            assert "internal error" not in r.stderr and "Traceback" not in r.stderr, (args, r)
    # nothing was written, and the database still has everything
    assert sorted(p.name for p in home.iterdir()) == before
    r = run_az("task", "list", "--json", env={"AZ_HOME": str(home)})
    assert r.returncode == 0 and len(r.json()) == (2 if wal else 1), r
    assert (
        run_az("config", "get", "agent.max_turns", env={"AZ_HOME": str(home)}).stdout.strip() == "7"
    )


def test_a_read_only_home_without_a_database_says_so(az_home: Path, tmp_path: Path) -> None:
    (az_home / "config.toml").write_text("")
    with read_only(az_home, tmp_path, "mount" if ROOT else "chmod") as ro:
        r = run_az("task", "list", env={"AZ_HOME": str(ro)}, cwd=tmp_path)
    assert r.returncode not in (0, 70), r
    line = r.stderr.strip()
    assert "\n" not in line and "read-only" in line and str(ro) in line, r


def test_storage_opened_read_only_reads_and_refuses_writes(az_home: Path, tmp_path: Path) -> None:
    from az_os.errors import StorageError
    from az_os.types import Task
    from az_sqlite.storage import SQLiteStorage

    s = SQLiteStorage(path=az_home / "az.db")
    s.create_task(Task(id="kept00000001", description="kept"))
    s.close()
    shutil.copy(az_home / "az.db", tmp_path / "copy.db")  # proof nothing changes below
    with read_only(az_home, tmp_path, "mount" if ROOT else "chmod") as ro:
        s = SQLiteStorage(path=ro / "az.db")
        try:
            assert s.read_only
            assert [t.id for t in s.list_tasks()] == ["kept00000001"]
            with pytest.raises(StorageError, match="read-only"):
                s.create_task(Task(id="new000000001", description="new"))
        finally:
            s.close()
    assert (az_home / "az.db").read_bytes() == (tmp_path / "copy.db").read_bytes()
