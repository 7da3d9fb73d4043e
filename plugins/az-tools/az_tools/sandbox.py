"""How ``shell.execute`` isolates a command: a scrubbed environment, bubblewrap, a process limit.

Settings (``[tools.shell]`` in config.toml, or ``AZ_TOOLS__SHELL__<KEY>``):

* ``sandbox`` - ``"auto"`` (default: bubblewrap when ``bwrap`` is installed
  and works here, else none, with the reason shown by ``az tools info
  shell.execute``), ``"bubblewrap"`` (required: a call fails with a clear
  error when bwrap cannot run) or ``"none"``.
* ``network`` - ``false`` (default): a sandboxed command has its own
  network namespace with only a loopback device, so nothing on the host
  (127.0.0.1 included) or beyond is reachable.
* ``pass_env`` - names of secret-looking variables to pass anyway.
* ``max_processes`` - processes and threads a command may run at once
  (default 256), against fork bombs.

The bubblewrap sandbox: the host's file system read-only, the workspace
read-write, its own ``/tmp``, ``/dev`` and ``/proc`` (so az's own process and
its environment are invisible; ``/proc/sys`` read-only), no capabilities (even
when az runs as root), the az home and ``$XDG_RUNTIME_DIR`` (the
keyring daemon's and D-Bus's sockets) hidden behind empty directories, its
own PID, IPC and UTS namespaces, and ``--die-with-parent`` (when az dies, the
command dies).

The process limit: ``RLIMIT_NPROC`` set inside the sandbox (``prlimit``)
counts only the sandbox's processes, since bubblewrap gives an unprivileged
user a user namespace of its own. The kernel ignores ``RLIMIT_NPROC`` for
root, so as root the command is put in a ``pids`` control group with
``pids.max`` when one can be created (cgroup v1 ``pids`` hierarchy, or v2
with the ``pids`` controller); otherwise the status says there is no limit.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from az_os.redact import is_secret_name

#: Seconds the bwrap probe may take.
PROBE_TIMEOUT_S = 10.0


#: What every sandbox gets: the host read-only, fresh /dev, /proc (its /proc/sys read-only:
#: a uid-0 process may write sysctls without any capability), /tmp; no capabilities;
#: its own user (where available), PID, IPC and UTS namespaces.
_BASE = [
    "--unshare-user-try",
    "--cap-drop",
    "ALL",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--ro-bind",
    "/proc/sys",
    "/proc/sys",
    "--ro-bind-try",
    "/proc/sysrq-trigger",
    "/proc/sysrq-trigger",
    "--tmpfs",
    "/tmp",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
]


@dataclass(frozen=True)
class Plan:
    """How one command will run: ``sandbox`` is ``"bubblewrap"`` or
    ``"none"``; ``reason`` says why that one (for ``"auto"``);
    ``process_limit`` says what limits processes (or why nothing does)."""

    sandbox: str
    reason: str
    network: bool
    max_processes: int
    process_limit: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sandbox": self.sandbox,
            "sandbox_reason": self.reason,
            "network": "on" if self.network or self.sandbox == "none" else "off",
            "process_limit": self.process_limit,
        }


def shell_settings(config: Any) -> Any:
    """``config.tools.shell`` (the kernel's ShellSettings)."""
    return config.tools.shell


@functools.cache
def probe_bwrap() -> tuple[bool, str]:
    """Whether bubblewrap can run a sandbox here, and why not (cached per process).

    Runs ``bwrap`` once with the namespaces the sandbox uses. Returns
    ``(True, "bwrap <version> works")`` or ``(False, reason)``: not
    installed, not POSIX, or bwrap's own error (user namespaces disabled,
    no permission to mount /proc, ...).
    """
    if os.name != "posix":
        return False, "bubblewrap needs Linux"
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    argv = [exe, *_BASE, "--unshare-net", "--die-with-parent", "--", "/bin/sh", "-c", "exit 0"]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap could not start: {exc}"
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        hint = ""
        if "namespace" in why.lower() or "permission" in why.lower():
            hint = (
                " (user namespaces are probably disabled: sysctl kernel.unprivileged_userns_clone=1"
                " or user.max_user_namespaces > 0, or run in a container that allows them)"
            )
        return False, f"bwrap does not work here: {why}{hint}"
    version = ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
        version = out.stdout.strip()
    except OSError:
        pass
    return True, f"{version or 'bwrap'} works here"


def plan(config: Any) -> Plan:
    """The sandbox and process limit a command gets under ``config``.

    Raises :class:`~az_tools.base.ToolFailure` when ``tools.shell.sandbox =
    "bubblewrap"`` but bwrap cannot run (the message names the setting).
    """
    from az_tools.base import ToolFailure

    s = shell_settings(config)
    if s.sandbox == "none":
        mode, reason = "none", 'tools.shell.sandbox = "none"'
    else:
        ok, why = probe_bwrap()
        if ok:
            mode, reason = "bubblewrap", why
        elif s.sandbox == "bubblewrap":
            raise ToolFailure(
                f'tools.shell.sandbox = "bubblewrap" but {why}; install bubblewrap or set '
                'tools.shell.sandbox = "none" (or "auto") to run commands unsandboxed'
            )
        else:
            mode, reason = "none", f"auto: {why}"
    return Plan(
        sandbox=mode,
        reason=reason,
        network=bool(s.network),
        max_processes=int(s.max_processes),
        process_limit=_limit_description(mode, int(s.max_processes)),
    )


def _limit_description(mode: str, n: int) -> str:
    if os.name != "posix":
        return "none (not POSIX)"
    if os.geteuid() == 0:
        if pids_cgroup_root() is not None:
            return f"{n} processes (pids cgroup)"
        return "none: RLIMIT_NPROC does not apply to root and no pids cgroup can be created here"
    if mode == "bubblewrap" and shutil.which("prlimit"):
        return f"{n} processes (RLIMIT_NPROC in the sandbox's user namespace)"
    if shutil.which("prlimit"):
        return f"{n} processes more than the user already runs (RLIMIT_NPROC)"
    return "none: prlimit (util-linux) is not installed"


# -- the environment -----------------------------------------------------------
def scrub_env(
    environ: dict[str, str], pass_env: list[str], store_names: list[str]
) -> tuple[dict[str, str], list[str]]:
    """``environ`` without secrets: names that look like credentials
    (:func:`az_os.redact.is_secret_name`) and names a secret store holds,
    unless ``pass_env`` lists them. Returns ``(env, removed names)``."""
    keep = set(pass_env)
    stored = set(store_names)
    env: dict[str, str] = {}
    removed: list[str] = []
    for name, value in environ.items():
        if name not in keep and (is_secret_name(name) or name in stored):
            removed.append(name)
            continue
        env[name] = value
    return env, sorted(removed)


# -- the process limit ---------------------------------------------------------
_CG_PREFIX = "az-shell-"
_cg_lock = threading.Lock()
_cg_counter = 0


def _own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path for ``controller`` (v1) or the v2 path (None)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if controller is None and parts[0] == "0" and parts[1] == "":
            return parts[2]
        if controller is not None and controller in parts[1].split(","):
            return parts[2]
    return None


@functools.cache
def pids_cgroup_root() -> Path | None:
    """A directory where a ``pids`` cgroup with ``pids.max`` can be made, or None."""
    if os.name != "posix":
        return None
    candidates: list[Path] = []
    v1 = Path("/sys/fs/cgroup/pids")
    own = _own_cgroup("pids")
    if v1.is_dir() and own is not None:
        candidates += [v1 / own.lstrip("/"), v1]
    v2 = Path("/sys/fs/cgroup")
    own2 = _own_cgroup(None)
    if (v2 / "cgroup.controllers").exists() and own2 is not None:
        mine = v2 / own2.lstrip("/")
        candidates += [mine.parent if own2 != "/" else mine]
    for base in candidates:
        test = base / f"{_CG_PREFIX}probe-{os.getpid()}"
        try:
            test.mkdir()
        except OSError:
            continue
        try:
            ok = (test / "pids.max").exists() and (test / "cgroup.procs").exists()
        finally:
            try:
                test.rmdir()
            except OSError:
                pass
        if ok:
            return base
    return None


def make_pids_cgroup(max_processes: int) -> Path | None:
    """A fresh cgroup with ``pids.max = max_processes`` (None when not possible).
    Stale empty ones left by earlier calls are removed on the way."""
    global _cg_counter
    base = pids_cgroup_root()
    if base is None:
        return None
    with _cg_lock:
        _cg_counter += 1
        n = _cg_counter
    for old in base.glob(f"{_CG_PREFIX}{os.getpid()}-*"):
        remove_cgroup(old)
    path = base / f"{_CG_PREFIX}{os.getpid()}-{n}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(max_processes))
    except OSError:
        remove_cgroup(path)
        return None
    return path


def remove_cgroup(path: Path | None) -> None:
    """Remove a cgroup made by :func:`make_pids_cgroup` if it is empty."""
    if path is None:
        return
    try:
        path.rmdir()
    except OSError:
        pass


# -- the command line ----------------------------------------------------------
def command_argv(
    command: str,
    workspace: Path,
    p: Plan,
    env: dict[str, str],
    az_home: Path | None,
    cgroup: Path | None,
) -> list[str]:
    """The argv that runs ``command`` (through ``/bin/sh -c``) as ``p`` says."""
    inner = ["/bin/sh", "-c", command]
    prlimit = shutil.which("prlimit")
    if p.sandbox == "bubblewrap":
        if prlimit and os.geteuid() != 0:
            inner = [prlimit, f"--nproc={p.max_processes}", "--", *inner]
        argv = [shutil.which("bwrap") or "bwrap", *_BASE, "--tmpfs", "/var/tmp"]
        hidden = []
        runtime = env.get("XDG_RUNTIME_DIR")
        if runtime and Path(runtime).is_dir():
            hidden.append(Path(runtime))
        if az_home is not None and az_home.is_dir():
            hidden.append(az_home)
        # a hidden directory around the workspace is covered before the workspace is bound
        # back in; one inside the workspace (AZ_HOME=./.az) is covered after
        inside = [h for h in hidden if h != workspace and h.is_relative_to(workspace)]
        for h in hidden:
            if h != workspace and h not in inside:
                argv += ["--tmpfs", str(h)]
        argv += ["--bind", str(workspace), str(workspace)]
        for h in inside:
            argv += ["--tmpfs", str(h)]
        if not p.network:
            argv.append("--unshare-net")
        argv += ["--die-with-parent", "--chdir", str(workspace), "--", *inner]
    else:
        argv = inner
        if prlimit and os.geteuid() != 0 and os.name == "posix":
            argv = [prlimit, f"--nproc={_user_tasks() + p.max_processes}", "--", *argv]
    if cgroup is not None:
        # the shell joins the cgroup, then becomes the command: nothing runs outside it
        argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup / "cgroup.procs"), *argv]
    return argv


def _user_tasks() -> int:
    """Processes and threads this user runs now (RLIMIT_NPROC counts them all)."""
    import psutil

    uid = os.getuid()
    total = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        info = proc.info
        if info.get("uids") is not None and info["uids"].real == uid:
            total += info.get("num_threads") or 1
    return total


#: stderr lines that mean the sandbox stopped something, and the setting that allows it
_HINTS = [
    (
        re.compile(r"read-only file system", re.IGNORECASE),
        "the sandbox lets commands write only in the workspace and /tmp; "
        'tools.shell.sandbox = "none" lifts that',
    ),
    (
        re.compile(
            r"network is unreachable|could not resolve|temporary failure in name resolution|"
            r"name or service not known|connection refused|no address associated",
            re.IGNORECASE,
        ),
        "the sandbox has no network; tools.shell.network = true turns it on",
    ),
    (
        re.compile(r"cannot fork|resource temporarily unavailable|fork: retry", re.IGNORECASE),
        "the command hit the process limit; tools.shell.max_processes raises it",
    ),
]


def sandbox_hint(p: Plan, stderr: str) -> str | None:
    """One line naming the setting to change when a sandboxed command's
    ``stderr`` shows the sandbox stopped it, else None."""
    if p.sandbox != "bubblewrap":
        return None
    found = [text for pattern, text in _HINTS if pattern.search(stderr)]
    if p.network:
        found = [f for f in found if "network" not in f]
    return "; ".join(found) if found else None
