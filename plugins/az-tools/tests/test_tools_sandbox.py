"""shell.execute's isolation: scrubbed environment, the bubblewrap sandbox, the process limit.

The sandbox tests run only where bwrap works (the skip reason says why not);
the destructive commands (deny-list bypasses, a fork bomb) run only inside it,
never on the host.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from az_os.config import AzConfig
from az_os.tools import ToolContext
from az_tools import sandbox

posix_only = pytest.mark.skipif(os.name != "posix", reason="uses sh syntax")
BWRAP_OK, BWRAP_WHY = sandbox.probe_bwrap() if os.name == "posix" else (False, "not POSIX")
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"no usable sandbox: {BWRAP_WHY}")

KEY = "sk-test-0123456789abcdefSECRET"


def _ctx(workspace: Path, **shell: Any) -> ToolContext:
    config = AzConfig()
    for key, value in shell.items():
        setattr(config.tools.shell, key, value)
    return ToolContext(workspace=workspace, task_id="t-test", approval="auto", config=config)


@pytest.fixture
def sh(tools, call, workspace):  # type: ignore[no-untyped-def]
    """sh(command, **shell settings) -> ToolResult, sandbox as configured (default auto)."""

    def run(command: str, timeout: float = 20, **shell: Any) -> Any:
        return call(
            tools["shell.execute"],
            {"command": command, "timeout": timeout},
            _ctx(workspace, **shell),
        )

    return run


# -- the environment -------------------------------------------------------------
def test_scrub_env_removes_credentials_and_store_names() -> None:
    env = {
        "PATH": "/bin",
        "OPENAI_API_KEY": "k1",
        "GITHUB_TOKEN": "k2",
        "DB_PASSWORD": "k3",
        "APP_SECRET": "k4",
        "aws_secret_access_key": "k5",
        "MY_VAULT_THING": "k6",
        "KEEP_TOKEN": "k7",
        "TOKENIZER": "not a secret",
    }
    out, removed = sandbox.scrub_env(env, ["KEEP_TOKEN"], ["MY_VAULT_THING"])
    assert out == {"PATH": "/bin", "KEEP_TOKEN": "k7", "TOKENIZER": "not a secret"}
    assert removed == sorted(
        [
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "APP_SECRET",
            "aws_secret_access_key",
            "MY_VAULT_THING",
        ]
    )


@posix_only
@pytest.mark.parametrize("mode", ["none", "auto"])
def test_a_command_never_sees_an_api_key(sh, monkeypatch, mode):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("PLAIN_VALUE", "visible")
    res = sh('echo "[$ANTHROPIC_API_KEY]"; env; echo "$PLAIN_VALUE"', sandbox=mode)
    assert res.success, res.error
    assert KEY not in res.result["stdout"]
    assert res.result["stdout"].startswith("[]\n")
    assert "visible" in res.result["stdout"]


@posix_only
def test_pass_env_lets_a_named_secret_through(sh, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-abcdefgh")
    res = sh('echo "$DEPLOY_TOKEN"', sandbox="none", pass_env=["DEPLOY_TOKEN"])
    assert res.result["stdout"] == "tok-abcdefgh\n"


@posix_only
def test_names_held_by_a_secret_store_are_removed(sh, monkeypatch):
    from az_os import hookimpl
    from az_os.plugins import get_host

    class Store:
        @hookimpl
        def az_secret_names(self) -> list[str]:
            return ["INTERNAL_SERVICE_CRED"]

    get_host().register(Store(), "test-store")
    monkeypatch.setenv("INTERNAL_SERVICE_CRED", "cred-value-123")
    res = sh('echo "[$INTERNAL_SERVICE_CRED]"', sandbox="none")
    assert res.result["stdout"] == "[]\n"


# -- choosing the sandbox ------------------------------------------------------------
def test_status_says_which_sandbox_is_active(tools, workspace):
    shell = tools["shell.execute"]
    none = shell.status(_ctx(workspace, sandbox="none").config)
    assert none["sandbox"] == "none" and "tools.shell.sandbox" in none["sandbox_reason"]
    auto = shell.status(_ctx(workspace).config)
    if BWRAP_OK:
        assert auto["sandbox"] == "bubblewrap" and auto["network"] == "off"
    else:
        assert auto["sandbox"] == "none" and auto["sandbox_reason"].startswith("auto: ")
    assert "process_limit" in auto


def test_required_bubblewrap_that_cannot_run_is_a_clear_error(sh, monkeypatch):
    monkeypatch.setattr(sandbox, "probe_bwrap", lambda: (False, "bwrap is not installed"))
    res = sh("echo hi", sandbox="bubblewrap")
    assert not res.success
    assert (
        'tools.shell.sandbox = "bubblewrap"' in res.error and "bwrap is not installed" in res.error
    )
    auto = sh("echo hi", sandbox="auto")  # auto falls back, and says so
    assert auto.success and auto.result["sandbox"] == "none"


# -- inside the sandbox -----------------------------------------------------------------
@needs_bwrap
def test_workspace_is_writable_and_the_host_is_not(sh, workspace):
    home = os.environ.get("HOME", "/root")
    res = sh(
        f"echo made > made.txt && echo ok; touch '{home}/az-sandbox-probe'; echo home=$?; "
        "touch /etc/az-sandbox-probe; echo etc=$?; echo t > /tmp/x && echo tmp=ok"
    )
    out = res.result["stdout"]
    assert res.result["sandbox"] == "bubblewrap"
    assert "ok\n" in out and "tmp=ok" in out
    assert "home=1" in out and "etc=1" in out
    assert (workspace / "made.txt").read_text() == "made\n"
    assert not Path(home, "az-sandbox-probe").exists()
    assert not Path("/etc/az-sandbox-probe").exists()
    assert "tools.shell.sandbox" in res.result["stderr"]  # the hint names the setting


@needs_bwrap
def test_private_tmp_and_hidden_az_home(sh, az_home):
    (az_home / "az.db").write_text("database")
    marker = Path("/tmp") / f"az-sandbox-host-{os.getpid()}"
    marker.write_text("host tmp")
    try:
        res = sh(f"ls /tmp; cat '{marker}'; ls -A '{az_home}'; echo end")
    finally:
        marker.unlink()
    assert "host tmp" not in res.result["stdout"]
    assert "az.db" not in res.result["stdout"]
    assert res.result["stdout"].rstrip().endswith("end")


@pytest.fixture
def loopback_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers 'hello' (the port is yielded)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.sendall(b"hello\n")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


#: A Python the sandbox can see: the base interpreter. A virtualenv under /tmp
#: (as test runners make them) is hidden by the sandbox's private /tmp.
SANDBOX_PY = str(Path(sys.base_prefix) / "bin" / "python3")


def _connect_cmd(port: int) -> str:
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    s=socket.create_connection(('127.0.0.1',{port}),timeout=3); print(s.recv(10))\n"
        "except OSError as e:\n"
        "    print('refused', e, file=sys.stderr); sys.exit(1)\n"
    )
    return f"'{SANDBOX_PY}' -c \"{code}\""


@needs_bwrap
def test_no_network_unless_configured(sh, loopback_server):
    blocked = sh(_connect_cmd(loopback_server))
    assert blocked.result["exit_code"] == 1 and "hello" not in blocked.result["stdout"]
    assert "tools.shell.network = true" in blocked.result["stderr"]
    allowed = sh(_connect_cmd(loopback_server), network=True)
    assert allowed.result["exit_code"] == 0 and "hello" in allowed.result["stdout"]


@needs_bwrap
def test_az_itself_is_invisible(sh, monkeypatch):
    # Without a PID namespace a command could read az's own environment in /proc.
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    res = sh(f"cat /proc/{os.getpid()}/environ; ps -eo pid,comm | wc -l; cat /proc/1/environ")
    assert KEY not in res.result["stdout"]


@needs_bwrap
@pytest.mark.slow
def test_fork_bomb_is_stopped_by_the_process_limit(sh, workspace):
    status = sandbox.plan(_ctx(workspace).config)
    if status.process_limit.startswith("none"):
        pytest.skip(f"no process limit here: {status.process_limit}")
    # bash's fork bomb; runs only inside the sandbox, whose PID namespace dies with it
    res = sh("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", timeout=6, max_processes=64)
    assert res.result["timed_out"] or res.result["exit_code"] is not None
    after = sh("echo alive")
    assert after.result["stdout"] == "alive\n"  # the machine still forks


@needs_bwrap
def test_process_limit_caps_processes(sh, workspace):
    status = sandbox.plan(_ctx(workspace, max_processes=16).config)
    if status.process_limit.startswith("none"):
        pytest.skip(f"no process limit here: {status.process_limit}")
    code = (
        "import os,signal,time\n"
        "kids=[]\n"
        "for _ in range(40):\n"
        "    try:\n"
        "        pid=os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid==0:\n"
        "        time.sleep(10); os._exit(0)\n"
        "    kids.append(pid)\n"
        "print(len(kids))\n"
        "[os.kill(k,signal.SIGKILL) for k in kids]\n"
    )
    res = sh(f"'{SANDBOX_PY}' -c \"{code}\"", max_processes=16)
    started = int(res.result["stdout"].split()[0])
    assert 0 < started < 16


@needs_bwrap
def test_runaway_output_is_cut(tools, call, workspace):
    config = AzConfig()
    config.tools.output_limit_bytes = 2048
    c = ToolContext(workspace=workspace, task_id="t", approval="auto", config=config)
    res = call(tools["shell.execute"], {"command": "yes az", "timeout": 1}, c)
    assert res.result["sandbox"] == "bubblewrap"
    assert res.result["truncated"] and len(res.result["stdout"]) < 2048 + 300


@needs_bwrap
@pytest.mark.parametrize(
    "command",
    [
        "rm  -rf  /",
        "bash -c 'rm -rf /'",
        "$(echo rm) -rf /",
        "rm -rf --no-preserve-root /etc /usr/sbin",
    ],
)
def test_deny_list_bypasses_are_harmless_in_the_sandbox(sh, workspace, tmp_path, command):
    # The deny list would miss these spellings; the sandbox's read-only host is what holds.
    # The workspace is the only writable place, so it alone may suffer.
    keep = tmp_path / "outside-keep.txt"
    keep.write_text("still here")
    res = sh(command, timeout=60)
    assert res.result["sandbox"] == "bubblewrap"
    assert keep.read_text() == "still here"
    assert Path("/etc/hostname").exists() or Path("/etc/passwd").exists()
    assert Path(sys.executable).exists()


def test_health_check_reports_the_sandbox(az_home, monkeypatch):
    from az_os.plugins import get_host

    check = get_host().health_checks()["tools.sandbox"]
    result = check()
    if BWRAP_OK:
        assert result.status == "ok" and result.detail.startswith("bubblewrap")
    else:
        assert result.status == "degraded" and "auto:" in result.detail
    monkeypatch.setenv("AZ_TOOLS__SHELL__SANDBOX", "none")
    assert check().status == "ok" and 'tools.shell.sandbox = "none"' in check().detail
    monkeypatch.setenv("AZ_TOOLS__SHELL__SANDBOX", "bubblewrap")
    monkeypatch.setattr(sandbox, "probe_bwrap", lambda: (False, "bwrap is not installed"))
    bad = check()
    assert bad.status == "unhealthy" and "tools.shell.sandbox" in bad.detail


@needs_bwrap
def test_az_home_inside_the_workspace_is_hidden_too(tools, call, workspace, monkeypatch):
    home = workspace / ".az"
    home.mkdir()
    (home / "az.db").write_text("database")
    monkeypatch.setenv("AZ_HOME", str(home))
    res = call(
        tools["shell.execute"],
        {"command": "ls -A .az; echo x > .az/az.db; echo made > kept.txt"},
        _ctx(workspace),
    )
    assert "az.db" not in res.result["stdout"]
    assert (home / "az.db").read_text() == "database"
    assert (workspace / "kept.txt").read_text() == "made\n"
