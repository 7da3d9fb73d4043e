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
