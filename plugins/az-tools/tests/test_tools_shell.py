"""shell.execute on real subprocesses.

Exit codes, env, timeouts that kill the whole process group, output truncation.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import psutil
import pytest

posix_only = pytest.mark.skipif(os.name != "posix", reason="uses sh syntax")


# These tests follow processes by their host pid, which a sandbox hides (it has its
# own PID namespace): they run unsandboxed; test_tools_sandbox.py covers the sandbox.
@pytest.fixture
def ctx(workspace, make_ctx):  # type: ignore[no-untyped-def]
    return make_ctx(workspace)


@pytest.fixture
def make_ctx():  # type: ignore[no-untyped-def]
    from az_os.config import AzConfig
    from az_os.tools import ToolContext

    def make(workspace, **settings):  # type: ignore[no-untyped-def]
        config = AzConfig()
        for key, value in settings.items():
            setattr(config.tools, key, value)
        config.tools.shell.sandbox = "none"
        return ToolContext(workspace=workspace, task_id="t-test", approval="auto", config=config)

    return make


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@posix_only
def test_stdout_stderr_and_exit_code(tools, ctx, call):
    res = call(tools["shell.execute"], {"command": "echo out; echo err >&2; exit 3"}, ctx)
    assert res.success is True  # a failing command is still an observation for the model
    assert res.result == {
        "exit_code": 3,
        "stdout": "out\n",
        "stderr": "err\n",
        "timed_out": False,
        "truncated": False,
        "sandbox": "none",
    }
    res = call(tools["shell.execute"], {"command": "ls does-not-exist"}, ctx)
    assert res.success and res.result["exit_code"] != 0 and "does-not-exist" in res.result["stderr"]


@posix_only
def test_env_is_added_and_stdin_is_empty(tools, ctx, call):
    res = call(
        tools["shell.execute"],
        {
            "command": 'echo "$GREETING $COUNT"; cat; echo "[$HOME]"',
            "env": {"GREETING": "hello", "COUNT": "3"},
        },
        ctx,
    )
    lines = res.result["stdout"].splitlines()
    assert lines[0] == "hello 3"
    # the parent's environment is kept, and cat read nothing from stdin
    assert lines[1] == f"[{os.environ['HOME']}]"


@posix_only
def test_timeout_kills_the_command_and_its_children(tools, workspace, ctx, call):
    # The shell starts two background sleeps (grandchildren of az) and waits;
    # their pids land in a file so we can check they are gone afterwards.
    command = "sleep 300 & echo $! > pids; sleep 300 & echo $! >> pids; echo started; wait"
    start = time.monotonic()
    res = call(tools["shell.execute"], {"command": command, "timeout": 1.5}, ctx)
    elapsed = time.monotonic() - start
    assert res.success is False
    assert "timed out after 1.5 s" in res.error
    assert res.result["timed_out"] is True
    assert res.result["stdout"] == "started\n"  # partial output is kept
    assert res.result["exit_code"] < 0  # killed by a signal
    assert elapsed < 6
    pids = [int(p) for p in (workspace / "pids").read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in pids), "grandchildren survived the timeout"


@posix_only
def test_default_timeout_comes_from_config(tools, workspace, make_ctx, call):
    c = make_ctx(workspace, shell_timeout_s=0.5)
    start = time.monotonic()
    res = call(tools["shell.execute"], {"command": "sleep 30"}, c)
    assert res.result["timed_out"] is True and "0.5 s" in res.error
    assert time.monotonic() - start < 5


@posix_only
def test_term_ignoring_command_is_killed_too(tools, workspace, ctx, call):
    # SIG_IGN is inherited, so the sleep ignores SIGTERM as well: only SIGKILL ends it.
    command = "trap '' TERM; sleep 30 & echo $! > pid; wait; sleep 30"
    start = time.monotonic()
    res = call(tools["shell.execute"], {"command": command, "timeout": 0.5}, ctx)
    assert res.result["timed_out"] is True
    assert time.monotonic() - start < 6
    pid = int((workspace / "pid").read_text())
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid)


def test_output_is_truncated_with_a_note(tools, workspace, make_ctx, call):
    c = make_ctx(workspace, output_limit_bytes=1000)
    script = "import sys; sys.stdout.write('A' * 50000 + 'THE-END'); sys.stderr.write('e' * 10)"
    res = call(tools["shell.execute"], {"command": f'"{sys.executable}" -c "{script}"'}, c)
    r = res.result
    assert res.success and r["truncated"] is True
    assert r["stdout"].startswith("A" * 700)
    assert r["stdout"].endswith("THE-END")  # the end of the output is kept too
    assert "bytes cut from the middle" in r["stdout"] and "50007 bytes" in r["stdout"]
    assert len(r["stdout"]) < 1300
    assert r["stderr"] == "e" * 10


@posix_only
def test_endless_output_stays_bounded(tools, workspace, make_ctx, call):
    c = make_ctx(workspace, output_limit_bytes=4096)
    res = call(tools["shell.execute"], {"command": "yes", "timeout": 1}, c)
    r = res.result
    assert r["timed_out"] and r["truncated"]
    assert len(r["stdout"]) < 4096 + 300


@posix_only
def test_background_process_holding_output_does_not_hang_the_call(tools, workspace, ctx, call):
    start = time.monotonic()
    res = call(tools["shell.execute"], {"command": "sleep 20 & echo $! > bg.pid; echo done"}, ctx)
    assert time.monotonic() - start < 5
    assert res.success and res.result["stdout"].startswith("done\n")
    assert "still running" in res.result["stdout"]
    pid = int((workspace / "bg.pid").read_text())
    os.kill(pid, 9)


def test_describe_call_shows_the_exact_command(tools):
    text = tools["shell.execute"].describe_call(
        {"command": "rm -f build/*.o && make", "env": {"CC": "clang"}, "timeout": 30}
    )
    assert text == "shell.execute: rm -f build/*.o && make  [env: CC=clang]  [timeout 30 s]"


def test_bad_timeout_and_empty_command(tools, ctx, call):
    res = call(tools["shell.execute"], {"command": "echo hi", "timeout": 0}, ctx)
    assert not res.success and "timeout" in res.error and "than 0" in res.error
    res = call(tools["shell.execute"], {"command": "   "}, ctx)
    assert not res.success and "empty" in res.error
    for absurd in (1e308, float("inf"), float("nan")):
        res = call(tools["shell.execute"], {"command": "echo hi", "timeout": absurd}, ctx)
        assert not res.success and "timeout" in res.error and "86400" in res.error, absurd


@posix_only
def test_cancelling_the_call_kills_the_command_at_once(tools, workspace, ctx):
    # What Ctrl-C or 'az task cancel' does to the engine's task: the command must die
    # now, not at its timeout, and the worker thread must finish (asyncio.run waits for it).
    command = "sleep 300 & echo $! > pid; wait"

    async def scenario() -> None:
        job = asyncio.ensure_future(tools["shell.execute"].call({"command": command}, ctx))
        while not (workspace / "pid").exists() or not (workspace / "pid").read_text().strip():
            await asyncio.sleep(0.02)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    start = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - start < 5
    pid = int((workspace / "pid").read_text())
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid)


def _unsandboxed(make_ctx, workspace):
    c = make_ctx(workspace)
    c.config.tools.shell.sandbox = "none"
    return c


@posix_only
@pytest.mark.parametrize("sandboxed", [False, True])
def test_timeout_also_kills_a_child_that_left_the_process_group(
    tools, workspace, make_ctx, call, sandboxed
):
    """`setsid` puts a child in a session of its own, out of reach of the
    process-group kill; it is found through its parent and killed too."""
    c = make_ctx(workspace) if sandboxed else _unsandboxed(make_ctx, workspace)
    command = "setsid sleep 300 & echo $! > pid; wait"
    res = call(tools["shell.execute"], {"command": command, "timeout": 1.0}, c)
    if sandboxed and res.result and res.result.get("sandbox") == "none":
        pytest.skip("bubblewrap cannot run here")
    assert res.result["timed_out"] is True
    pid = int((workspace / "pid").read_text())
    if sandboxed:
        return  # a pid inside the sandbox's own pid namespace: gone with it
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid), "the setsid child survived the timeout"


@posix_only
def test_background_jobs_left_running_are_reported(tools, workspace, make_ctx, call):
    """A job sent to the background with its output redirected no longer
    holds the pipes, so nothing waits for it: the result says it is still
    running and names its pid."""
    c = _unsandboxed(make_ctx, workspace)
    res = call(tools["shell.execute"], {"command": "sleep 300 > /dev/null 2>&1 & echo $!"}, c)
    pid = int(res.result["stdout"].split()[0])
    try:
        assert res.success and res.result["exit_code"] == 0
        assert "left 1 background process(es) running" in res.result["stderr"]
        assert str(pid) in res.result["stderr"]
    finally:
        os.kill(pid, 9)
