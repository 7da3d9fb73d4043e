"""`az task run/resume/cancel` as a user runs them, with the scripted model
installed as a real entry-point plugin in a separate process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import has_plugin, has_storage

pytestmark = pytest.mark.skipif(
    not (has_storage() and has_plugin("tools")), reason="needs az-sqlite and az-tools installed"
)


@pytest.fixture
def scripted(tmp_path: Path, az_home: Path, scripted_env):  # type: ignore[no-untyped-def]
    """The scripted model as a real entry-point plugin (az_os.testing's
    scripted_env) and a workspace with three files; returns (env-builder, workspace)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for n in ("one.txt", "two.txt", "three.txt"):
        (ws / n).write_text(n)
    # only the plugins this test needs: the router must not re-route a fixed model anyway
    return scripted_env, ws


def test_run_json_shape_and_list(az, scripted):
    env, ws = scripted
    steps = [{"tool": "filesystem.list", "arguments": {"path": "."}}, {"answer": "3 files"}]
    r = az(
        "task",
        "run",
        "How many files?",
        "--model",
        "cheap",
        "--workspace",
        str(ws),
        "--approve",
        "auto",
        "--json",
        env=env(steps),
    )
    assert r.returncode == 0, r
    out = r.json()
    assert {k: out[k] for k in ("status", "result", "model", "turns", "tool_calls")} == {
        "status": "completed",
        "result": "3 files",
        "model": "scripted/cheap",
        "turns": 2,
        "tool_calls": 1,
    }
    assert out["prompt_tokens"] > 0 and out["completion_tokens"] > 0 and out["cost_usd"] > 0
    listed = az("task", "list", "--json", env=env([])).json()
    assert out["id"] in json.dumps(listed)


def test_run_shows_turns_live_and_summary(az, scripted):
    env, ws = scripted
    steps = [
        {"tool": "filesystem.read", "arguments": {"path": "one.txt"}, "thought": "read it"},
        {"answer": "it says one.txt"},
    ]
    r = az(
        "task",
        "run",
        "What does one.txt say?",
        "-m",
        "cheap",
        "-w",
        str(ws),
        "--approve",
        "auto",
        env=env(steps),
    )
    assert r.returncode == 0, r
    assert "turn 1" in r.stdout and "filesystem.read" in r.stdout
    assert "it says one.txt" in r.stdout and "completed" in r.stdout


def test_failed_task_exits_non_zero(az, scripted):
    env, ws = scripted
    steps = [{"tool": "filesystem.list", "arguments": {"path": "."}}] * 3
    r = az(
        "task",
        "run",
        "loop",
        "-m",
        "cheap",
        "-w",
        str(ws),
        "--max-turns",
        "2",
        "--approve",
        "auto",
        "--json",
        env=env(steps),
    )
    assert r.returncode == 1
    assert r.json()["status"] == "failed" and "turn limit" in r.json()["error"]


def test_unknown_model_is_one_line(az, scripted):
    env, ws = scripted
    r = az("task", "run", "x", "--model", "nosuchmodel", env=env([]))
    assert r.returncode == 4 and "unknown model 'nosuchmodel'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("description", ["", "   ", "\n\t "])
def test_empty_description_is_refused_and_creates_no_task(az, scripted, description):
    env, ws = scripted
    r = az("task", "run", description, "--workspace", str(ws), env=env([]))
    assert r.returncode == 2, r
    assert r.stderr.strip().count("\n") == 0 and "description is empty" in r.stderr
    listed = az("task", "list", "--json", env=env([]))
    assert listed.returncode == 0, listed
    data = listed.json()
    assert (data["tasks"] if isinstance(data, dict) else data) == []


def _start(az_home: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = dict(os.environ, AZ_HOME=str(az_home), **env)
    return subprocess.Popen(
        [sys.executable, "-m", "az_os.cli", *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_running(az, env, timeout: float = 20) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = az("task", "list", "--status", "running", "--json", env=env)
        if r.returncode == 0 and r.json():
            data = r.json()
            rows = data["tasks"] if isinstance(data, dict) else data
            if rows:
                return rows[0]["id"]
        time.sleep(0.3)
    raise AssertionError("task never started")


@pytest.mark.slow
def test_ctrl_c_cancels_and_resume_finishes(az, scripted, az_home):
    env, ws = scripted
    steps = [
        {"tool": "filesystem.list", "arguments": {"path": "."}},
        {"sleep": 30, "answer": "too late"},
    ]
    e = env(steps)
    proc = _start(
        az_home, e, "task", "run", "slow", "-m", "cheap", "-w", str(ws), "--approve", "auto"
    )
    task_id = _wait_running(az, e)
    time.sleep(1.5)  # let the first turn complete and the slow second call start
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    shown = az("task", "show", task_id, "--json", env=e).json()
    task = shown.get("task", shown)
    assert task["status"] == "cancelled"
    r = az("task", "resume", task_id, "--json", env=env([{"answer": "3 files"}]))
    assert r.returncode == 0, r
    assert r.json()["status"] == "completed" and r.json()["turns"] >= 2


@pytest.mark.slow
def test_cancel_from_another_terminal(az, scripted, az_home):
    env, ws = scripted
    e = env([{"sleep": 30, "answer": "too late"}])
    proc = _start(
        az_home, e, "task", "run", "slow", "-m", "cheap", "-w", str(ws), "--approve", "auto"
    )
    task_id = _wait_running(az, e)
    r = az("task", "cancel", task_id, env=e)
    assert r.returncode == 0 and "cancelled" in r.stdout
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    shown = az("task", "show", task_id, "--json", env=e).json()
    assert shown.get("task", shown)["status"] == "cancelled"


@pytest.mark.slow
def test_sigterm_kills_the_running_command_and_leaves_the_task_resumable(az, scripted, az_home):
    """`kill PID` (what systemd and container runtimes send) stops az like
    Ctrl-C: the shell command's process dies with it, the task is marked
    interrupted (not left running) and az exits 143."""
    import psutil

    env, ws = scripted
    marker = f"sleep 600.{time.monotonic_ns() % 1_000_000:06d}"  # unique among processes
    steps = [{"tool": "shell.execute", "arguments": {"command": marker}}]
    e = env(steps)
    proc = _start(
        az_home, e, "task", "run", "slow", "-m", "cheap", "-w", str(ws), "--approve", "auto"
    )
    task_id = _wait_running(az, e)

    def sleepers() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if marker in " ".join(p.info["cmdline"] or []):
                found.append(p)
        return found

    deadline = time.monotonic() + 60
    while not sleepers():
        assert time.monotonic() < deadline, "the shell command never started"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    deadline = time.monotonic() + 10
    while sleepers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sleepers(), "the shell command outlived az"
    shown = az("task", "show", task_id, "--json", env=e).json()
    task = shown.get("task", shown)
    assert task["status"] == "interrupted"
    assert "SIGTERM" in task["error"]
    r = az("task", "resume", task_id, "--json", env=env([{"answer": "done after all"}]))
    assert r.returncode == 0, r
    assert r.json()["status"] == "completed"


def _task_a_worker_ran(az_home: Path, ws: Path, status: str) -> str:
    """A task a Celery worker on another host ran one turn of and left
    ``status``, its claim kept (fresh) as workers keep it; returns its id."""
    from az_os.drivers import close_all, get_storage
    from az_os.types import Task, TaskStatus, utcnow

    storage = get_storage()
    task = storage.create_task(
        Task(
            description="slow",
            model="scripted/cheap",
            workspace=str(ws),
            approval="auto",
            status=TaskStatus.PENDING,
        )
    )
    assert storage.claim_task(task.id, "az-worker@elsewhere.invalid:4242")
    task.status, task.started_at = TaskStatus(status), utcnow()
    task.pid, task.host = 4242, "elsewhere.invalid"
    storage.update_task(task)
    close_all()
    return task.id


def _claim_holder(task_id: str) -> str | None:
    from az_os.drivers import close_all, get_storage

    try:
        return get_storage().claim_holder(task_id)
    finally:
        close_all()


@pytest.mark.slow
def test_resume_takes_over_a_workers_claim_and_cancel_stops_it(az, scripted, az_home):
    """#19: a task a worker ran (and kept the claim of), resumed here, is
    claimed by this `az task resume`: `az task cancel` stops it at once, and
    its claim is gone when it ends."""
    env, ws = scripted
    e = env([{"sleep": 30, "answer": "too late"}])
    task_id = _task_a_worker_ran(az_home, ws, "cancelled")
    proc = _start(az_home, e, "task", "resume", task_id)
    holder = ""
    deadline = time.time() + 30
    while not holder.startswith("az-task@"):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
        holder = _claim_holder(task_id) or ""
    assert holder.endswith(f":{proc.pid}")
    _wait_running(az, e)
    t0 = time.monotonic()
    r = az("task", "cancel", task_id, env=e)
    assert r.returncode == 0 and f"signalled pid {proc.pid}" in r.stdout, r
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert time.monotonic() - t0 < 10  # not after the 30 s model call
    shown = az("task", "show", task_id, "--json", env=e).json()
    assert shown.get("task", shown)["status"] == "cancelled"
    assert _claim_holder(task_id) is None


@pytest.mark.slow
def test_a_resumed_task_stops_on_a_cancel_stored_from_another_host(az, scripted, az_home):
    """`az task cancel` on another host cannot signal; the resumed task's
    claim watch reads the stored status and stops it within seconds."""
    from az_os.drivers import close_all, get_storage
    from az_os.types import TaskStatus

    env, ws = scripted
    e = env([{"sleep": 30, "answer": "too late"}])
    task_id = _task_a_worker_ran(az_home, ws, "failed")
    proc = _start(az_home, e, "task", "resume", task_id)
    _wait_running(az, e)
    storage = get_storage()
    task = storage.get_task(task_id)
    task.status, task.error = TaskStatus.CANCELLED, "cancelled with 'az task cancel'"
    storage.update_task(task)  # what the other host's `az task cancel` writes
    close_all()
    t0 = time.monotonic()
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert time.monotonic() - t0 < 10
    assert _claim_holder(task_id) is None


def test_resume_refuses_a_task_a_live_worker_may_be_running(az, scripted, az_home):
    env, ws = scripted
    task_id = _task_a_worker_ran(az_home, ws, "interrupted")  # its claim is fresh
    r = az("task", "resume", task_id, env=env([{"answer": "never"}]))
    assert r.returncode == 1, r
    assert r.stderr.strip().count("\n") == 0 and "az-worker@elsewhere.invalid:4242" in r.stderr
    assert "az task cancel" in r.stderr
    shown = az("task", "show", task_id, "--json", env=env([])).json()
    assert shown.get("task", shown)["status"] == "interrupted"  # left as it was
    assert _claim_holder(task_id) == "az-worker@elsewhere.invalid:4242"
