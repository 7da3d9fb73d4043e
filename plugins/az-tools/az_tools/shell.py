"""``shell.execute``: run one shell command in the workspace.

How it runs:

* through the system shell (``/bin/sh -c`` on POSIX, ``cmd.exe /c`` on
  Windows), with the workspace as working directory, stdin closed (empty),
  and the environment of az plus the ``env`` argument;
* in its own process group (POSIX: a new session; Windows: a new process
  group), so a timeout kills the command *and everything it started*:
  SIGTERM to the group, then SIGKILL after a 1 s grace (Windows:
  ``taskkill /F /T``);
* stdout and stderr are read as they come; each keeps at most
  ``tools.output_limit_bytes`` (config, default 16384 bytes): the first
  three quarters and the last quarter, with a note in the middle saying how
  many bytes were cut. Memory stays bounded however much a command prints;
* a cancelled call (the engine's task cancelled by Ctrl-C or ``az task
  cancel``) kills the process group at once.

Result: ``{"exit_code", "stdout", "stderr", "timed_out", "truncated"}``.
A command that exits non-zero is still ``success=True`` (the model reads
``exit_code`` and stderr, as a person would); a timeout is
``success=False`` with the partial output in the result and ``exit_code``
the (negative, on POSIX) signal number that ended it. Processes the command
leaves running in the background keep running; if they still hold the
output pipes 1 s after the command exits, az stops waiting and says so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from contextvars import ContextVar
from typing import IO, Any

from az_os.tools import ToolContext
from az_os.types import ToolResult, ToolSpec

from az_tools import sandbox
from az_tools.base import BuiltinTool, ToolFailure, output_limit
from az_tools.workspace import workspace_root

#: Seconds between SIGTERM and SIGKILL when a command times out.
KILL_GRACE_S = 1.0
#: Seconds to wait for the output pipes to close after the command exited.
DRAIN_GRACE_S = 1.0

#: The processes started by the current :meth:`ShellTool.call`, so a
#: cancelled call (Ctrl-C, ``az task cancel``) can kill them from the event loop.
_started: ContextVar[list[subprocess.Popen[bytes]] | None] = ContextVar(
    "az_tools_shell_started", default=None
)


class _Capture:
    """Reads one pipe in a thread, keeping a bounded head and tail."""

    def __init__(self, pipe: IO[bytes], limit: int) -> None:
        self.limit = limit
        self.tail_limit = limit // 4
        self.head_limit = limit - self.tail_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._pipe = pipe
        self.thread = threading.Thread(target=self._pump, name="az-shell-reader", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        fd = self._pipe.fileno()
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.total += len(chunk)
                room = self.head_limit - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk and self.tail_limit:
                    self.tail += chunk
                    extra = len(self.tail) - self.tail_limit
                    if extra > 0:
                        del self.tail[:extra]
        except OSError:
            pass
        finally:
            try:
                self._pipe.close()
            except OSError:
                pass

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        head = bytes(self.head).decode("utf-8", errors="replace")
        tail = bytes(self.tail).decode("utf-8", errors="replace")
        if not self.truncated:
            return head + tail
        cut = self.total - len(self.head) - len(self.tail)
        return (
            f"{head}\n[... {cut} bytes cut from the middle: the output was {self.total} bytes, "
            f"more than tools.output_limit_bytes = {self.limit} ...]\n{tail}"
        )


#: The longest ``timeout`` a call may ask for, seconds (one day).
MAX_TIMEOUT_S = 86400.0


def _popen(command: str | list[str], cwd: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    kwargs: dict[str, Any] = {
        "shell": isinstance(command, str),
        "cwd": cwd,
        "env": env,
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
    }
    if os.name == "posix":
        kwargs["start_new_session"] = True
    else:  # pragma: no cover - Windows
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    return subprocess.Popen(command, **kwargs)


def _descendants(pid: int) -> list[Any]:
    """Every live descendant of ``pid`` (psutil processes), including those
    that left its process group with ``setsid``; [] when ``pid`` is gone."""
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (POSIX), e.g.
    background jobs a finished command left running; [] when none."""
    try:
        os.killpg(pgid, 0)  # cheap: is anyone left in the group?
    except (ProcessLookupError, PermissionError, OSError):
        return []
    import psutil

    found = []
    for q in psutil.process_iter():
        try:
            if os.getpgid(q.pid) == pgid:
                found.append(q.pid)
        except (ProcessLookupError, PermissionError, OSError):
            continue
    return sorted(found)


def kill_tree(proc: subprocess.Popen[bytes], grace_s: float = KILL_GRACE_S) -> list[int]:
    """End ``proc``, every process in its group and every other descendant
    (one that called ``setsid`` has left the group but is still found by its
    parent link): SIGTERM to the group, SIGKILL after ``grace_s`` seconds to
    the group and the descendants (Windows: ``taskkill /F /T``). Returns the
    pids still alive afterwards (processes it was not allowed to kill)."""
    if os.name == "posix":
        others = _descendants(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        # The group outlives its leader while any member lives: kill the rest too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for q in others:
            try:
                q.kill()
            except Exception:  # noqa: BLE001,S110 - gone already, or not ours to kill
                pass
        proc.wait()
        import psutil

        _, alive = psutil.wait_procs(others, timeout=1.0)
        return [q.pid for q in alive if _alive(q)]
    else:  # pragma: no cover - Windows
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(proc.pid)],
            capture_output=True,
            check=False,
        )
        try:
            proc.kill()
        except OSError:
            pass
    proc.wait()
    return []


def _alive(q: Any) -> bool:
    """Whether psutil process ``q`` still runs (a zombie counts as gone)."""
    import psutil

    try:
        return bool(q.is_running()) and q.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_now(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group at once, without waiting (used on cancellation)."""
    if proc.poll() is not None and os.name != "posix":  # pragma: no cover - Windows
        return
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:  # pragma: no cover - Windows
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True)


def _store_names() -> list[str]:
    """Names the secret stores hold (``az_secret_names``); [] when none answers."""
    try:
        from az_os.plugins import get_host

        return get_host().secret_names()
    except Exception:  # noqa: BLE001 - a broken store must not stop the shell
        return []


def _env_strings(extra: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in extra.items():
        if not isinstance(key, str) or not key or "=" in key or "\x00" in key:
            raise ToolFailure(f"invalid environment variable name {key!r}")
        if isinstance(value, bool):
            value = "1" if value else "0"
        if isinstance(value, int | float):
            value = str(value)
        if not isinstance(value, str):
            raise ToolFailure(
                f"environment variable {key} must be a string, got {type(value).__name__}"
            )
        if "\x00" in value:
            raise ToolFailure(f"environment variable {key} contains a NUL byte")
        out[key] = value
    return out


class ShellTool(BuiltinTool):
    """``shell.execute``: one shell command in the workspace, with a timeout."""

    spec = ToolSpec(
        name="shell.execute",
        description=(
            "Run a shell command (git, python3, cp, ...) with the workspace as the current "
            "directory. Returns "
            '{"exit_code", "stdout", "stderr", "timed_out", "truncated", "sandbox"}; a non-zero '
            "exit_code means the command failed; read stderr. The command and every process it "
            "starts are killed when the timeout (seconds) runs out. Long output is cut in the "
            'middle. With "sandbox": "bubblewrap" only the workspace and /tmp are writable and '
            "there is no network; API keys are never in the environment."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "command": {
                    "type": "string",
                    "description": "The command line, run by the system shell (sh on Linux/macOS).",
                },
                "timeout": {
                    "type": "number",
                    "description": "Seconds before the command is killed; default "
                    "tools.shell_timeout_s from config (60).",
                    "exclusiveMinimum": 0,
                    "maximum": MAX_TIMEOUT_S,
                },
                "env": {
                    "type": "object",
                    "description": "Extra environment variables for the command, name to value.",
                    "additionalProperties": {"type": "string"},
                },
            },
            "required": ["command"],
            "additionalProperties": False,
        },
        category="shell",
        read_only=False,
    )

    def status(self, config: Any) -> dict[str, Any]:
        """The sandbox, network and process limit commands get here (``az tools info``)."""
        if os.name != "posix":
            return {"sandbox": "none", "sandbox_reason": "bubblewrap needs Linux"}
        try:
            return sandbox.plan(config).to_dict()
        except ToolFailure as exc:
            return {"sandbox": "unavailable", "sandbox_reason": str(exc)}

    def describe_call(self, arguments: dict[str, Any]) -> str:
        """The exact command, plus the extra environment and timeout when given."""
        text = f"shell.execute: {arguments.get('command', '')}"
        env = arguments.get("env")
        if isinstance(env, dict) and env:
            text += "  [env: " + " ".join(f"{k}={v}" for k, v in env.items()) + "]"
        if arguments.get("timeout") is not None:
            text += f"  [timeout {arguments['timeout']} s]"
        return text

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run in a worker thread; if the awaiting task is cancelled (Ctrl-C,
        ``az task cancel``), kill the command's process group right away so
        nothing keeps running (and az does not wait for the timeout to exit)."""
        started: list[subprocess.Popen[bytes]] = []
        token = _started.set(started)
        try:
            return await asyncio.to_thread(self.run, arguments, ctx)
        except asyncio.CancelledError:
            for proc in started:
                _kill_now(proc)
            raise
        finally:
            _started.reset(token)

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        command = args["command"]
        if not command.strip():
            raise ToolFailure("the command is empty")
        if "\x00" in command:
            raise ToolFailure("the command contains a NUL byte")
        timeout = args.get("timeout")
        if timeout is None:
            timeout = float(ctx.config.tools.shell_timeout_s)
        if not 0 < timeout <= MAX_TIMEOUT_S:  # also refuses nan
            raise ToolFailure(
                f"timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds, got {timeout}"
            )
        cwd = workspace_root(ctx)
        settings = sandbox.shell_settings(ctx.config)
        env, _removed = sandbox.scrub_env(dict(os.environ), list(settings.pass_env), _store_names())
        env.update(_env_strings(args.get("env") or {}))
        limit = output_limit(ctx)
        p = sandbox.plan(ctx.config) if os.name == "posix" else None
        cgroup = None
        argv: str | list[str] = command
        if p is not None:
            cgroup = sandbox.make_pids_cgroup(p.max_processes) if os.geteuid() == 0 else None
            argv = sandbox.command_argv(command, cwd, p, env, ctx.config.home, cgroup)
        try:
            proc = _popen(argv, str(cwd), env)
        except OSError as exc:
            sandbox.remove_cgroup(cgroup)
            raise ToolFailure(f"cannot start the shell: {exc.strerror or exc}") from None
        try:
            return self._wait(proc, timeout, limit, p)
        finally:
            sandbox.remove_cgroup(cgroup)

    def _wait(
        self,
        proc: subprocess.Popen[bytes],
        timeout: float,
        limit: int,
        p: sandbox.Plan | None,
    ) -> Any:
        holder = _started.get()
        if holder is not None:
            holder.append(proc)
        out = _Capture(proc.stdout, limit)  # type: ignore[arg-type]
        err = _Capture(proc.stderr, limit)  # type: ignore[arg-type]
        timed_out = False
        survivors: list[int] = []
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            survivors = kill_tree(proc)
        except BaseException:
            kill_tree(proc, grace_s=0.2)
            raise
        drain_until = time.monotonic() + DRAIN_GRACE_S
        for cap in (out, err):
            cap.thread.join(timeout=max(0.0, drain_until - time.monotonic()))
        lingering = out.thread.is_alive() or err.thread.is_alive()
        stdout = out.text()
        if lingering:
            stdout += (
                "\n[az: background processes started by the command are still running and "
                "holding its output; it was not waited for]"
            )
        stderr = err.text()
        if survivors:
            stderr += f"\n[az: could not kill processes {survivors} started by the command]"
        elif not timed_out and os.name == "posix" and (p is None or p.sandbox == "none"):
            # (inside the sandbox the command's own pid namespace ends with it)
            left = group_members(proc.pid)
            if left:
                stderr += (
                    f"\n[az: the command left {len(left)} background process(es) running "
                    f"(pids {', '.join(map(str, left))}); they keep running after this call]"
                )
        hint = sandbox.sandbox_hint(p, stderr) if p is not None else None
        if hint:
            stderr += f"\n[az: {hint}]"
        result = {
            "exit_code": proc.returncode,
            "stdout": stdout,
            "stderr": stderr,
            "timed_out": timed_out,
            "truncated": out.truncated or err.truncated,
            "sandbox": p.sandbox if p is not None else "none",
        }
        if timed_out:
            return ToolResult(
                success=False,
                result=result,
                error=f"shell.execute: timed out after {timeout:g} s; the command and every "
                "process it started were killed",
            )
        return result
