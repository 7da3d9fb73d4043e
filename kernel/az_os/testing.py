"""Test helpers for az and its plugins: an isolated az home and the real ``az``.

Installed as a pytest plugin (entry point ``pytest11``), so every test suite
in an environment with az gets these fixtures without importing anything:

* ``az_home`` - a fresh ``AZ_HOME`` under the test's tmp dir; every other
  ``AZ_*`` variable of the outer environment (config overrides,
  ``AZ_LOAD_PLUGINS``/``AZ_DISABLE_PLUGINS``) is removed; the process-wide
  plugin host and cached storage are reset before and after the test.
* ``az`` - ``az(*args, env=None, cwd=None, input=None, timeout=300)`` runs
  the installed CLI in a subprocess (real entry points, real database) with
  that home and returns an :class:`AzResult`.

Nothing here is imported by az itself; pytest is needed only to use the fixtures.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from az_os import hookimpl
from az_os.errors import BudgetExceededError


def reset_process_state() -> None:
    """Forget the process-wide plugin host and close cached storage backends."""
    from az_os import drivers, plugins, vectors

    drivers.close_all()
    vectors.close_all()
    plugins.reset_host()


class AzResult:
    """What a finished ``az`` process left: ``returncode``, ``stdout``, ``stderr``."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self) -> Any:
        """stdout parsed as JSON (for ``--json`` commands)."""
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        out, err = self.stdout[-800:], self.stderr[-800:]
        return f"<az exit={self.returncode} stdout={out!r} stderr={err!r}>"


def run_az(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    input: str | None = None,
    timeout: float = 300,
    command: list[str] | None = None,
) -> AzResult:
    """Run ``python -m az_os.cli ARGS`` (or ``command + ARGS``) as a user would.

    ``env`` is added to this process's environment; ``COLUMNS=200`` keeps
    tables unwrapped. Without ``input`` stdin is empty, as in CI.
    """
    full = dict(os.environ)
    full["COLUMNS"] = "200"
    full.update(env or {})
    cmd = [*(command or [sys.executable, "-m", "az_os.cli"]), *args]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    return AzResult(proc)


@pytest.fixture
def az_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh AZ_HOME for one test (see the module docstring)."""
    home = tmp_path / "az-home"
    home.mkdir()
    monkeypatch.setenv("AZ_HOME", str(home))
    for var in list(os.environ):
        if var.startswith("AZ_") and var != "AZ_HOME":
            monkeypatch.delenv(var)  # config overrides, plugin allow/block lists, ...
    reset_process_state()
    yield home
    reset_process_state()


@pytest.fixture
def az(az_home: Path) -> Callable[..., AzResult]:
    """``az(*args, env=None, cwd=None, input=None, timeout=300)``: the real CLI
    in a subprocess with this test's AZ_HOME."""

    def run(*args: str, env: Mapping[str, str] | None = None, **kw: Any) -> AzResult:
        from az_os import drivers, vectors

        drivers.close_all()  # let the subprocess see everything written so far
        vectors.close_all()
        return run_az(*args, env={"AZ_HOME": str(az_home), **(env or {})}, **kw)

    return run


def scripted_site(directory: Path) -> Path:
    """Make ``directory`` a site dir whose only distribution, ``az-scripted``,
    declares the entry point ``[az] scripted = az_os.scripted`` (and, in
    ``az.commands``, that it adds no command); put it on
    ``PYTHONPATH`` to load the scripted model plugin in a subprocess."""
    info = directory / "az_scripted-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: az-scripted\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(
        "[az]\nscripted = az_os.scripted\n\n[az.commands]\nscripted = az_os.commands:NO_COMMANDS\n"
    )
    return directory


@pytest.fixture
def scripted_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``scripted_env(steps, plugins="scripted,tools,sqlite") -> env``: the
    variables for an ``az`` subprocess that loads the scripted model plugin and
    answers from ``steps`` (a list of script steps, see :mod:`az_os.scripted`).
    ``plugins`` becomes ``AZ_LOAD_PLUGINS`` (``None`` loads every plugin)."""
    site = scripted_site(tmp_path / "scripted-site")
    counter = iter(range(1_000_000))

    def env(
        steps: list[dict[str, Any]], plugins: str | None = "scripted,tools,sqlite"
    ) -> dict[str, str]:
        script = tmp_path / f"script-{next(counter)}.json"
        script.write_text(json.dumps(steps))
        path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
        out = {"PYTHONPATH": path, "AZ_SCRIPT": str(script)}
        if plugins is not None:
            out["AZ_LOAD_PLUGINS"] = plugins
        return out

    return env


class ModelCallRecorder:
    """A plugin recording the model-call hooks a budget and a cost plugin
    implement: register it (``host.register(rec, name="calls")``) and read
    ``seen``, a list of ``("before", task id, model id)`` and ``("after",
    task id, Usage)`` tuples in call order. Set ``refuse`` to a message to
    make ``az_before_model_call`` raise BudgetExceededError with it, as a
    budget plugin refuses a call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []
        self.refuse: str | None = None

    @hookimpl
    def az_before_model_call(self, task: Any, request: Any, model: Any) -> None:
        if self.refuse:
            raise BudgetExceededError(self.refuse)
        self.seen.append(("before", task.id, model.info.id))

    @hookimpl
    def az_after_model_call(self, task: Any, request: Any, response: Any, usage: Any) -> None:
        self.seen.append(("after", task.id, usage))


# -- real filesystems: a small tmpfs, a read-only mount ------------------------
def _mount(args: list[str], what: str) -> None:
    """Run ``mount ARGS``; skip the test, saying why, when mounting is not permitted."""
    import shutil

    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (mount); run the tests as root to include it")
    if shutil.which("mount") is None:
        pytest.skip(f"{what}: no 'mount' program on this machine")
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        why = " ".join((proc.stderr or proc.stdout).split()) or f"exit {proc.returncode}"
        pytest.skip(f"{what}: mounting is not permitted here ({why})")


def _umount(path: Path) -> None:
    """Unmount ``path``, lazily if it is still busy (a process left inside it)."""
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def tmpfs_mount(path: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a fresh tmpfs of ``size_bytes`` at ``path`` (created if needed)
    and unmount it when the block ends, whatever happens inside.

    Needs root; where mounting is not permitted (not root, a container
    without ``CAP_SYS_ADMIN``) the test is skipped with the reason.
    """
    path.mkdir(parents=True, exist_ok=True)
    _mount(
        ["-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(path)],
        f"a {size_bytes // 1024} KiB tmpfs",
    )
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only_mount(source: Path, target: Path) -> Iterator[Path]:
    """Bind-mount directory ``source`` read-only at ``target`` (created if
    needed) and unmount it when the block ends: a real read-only filesystem,
    which binds root too (mode bits do not). Needs root; skipped with the
    reason where mounting is not permitted."""
    target.mkdir(parents=True, exist_ok=True)
    _mount(["--bind", str(source), str(target)], "a read-only bind mount")
    try:
        proc = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(target)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            pytest.skip(
                f"a read-only bind mount: remounting read-only failed ({proc.stderr.strip()})"
            )
        yield target
    finally:
        _umount(target)


# -- real servers (PostgreSQL, Redis) ----------------------------------------
def _servers_required() -> bool:
    """In CI a missing server is a failure, not a skip."""
    return bool(os.environ.get("CI")) or bool(os.environ.get("AZ_TEST_REQUIRE_SERVERS"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A PostgreSQL server for the whole session
    (:class:`az_os.testservers.PostgresServer`); skipped when PostgreSQL or
    psycopg is not installed, except in CI (``CI`` set), where that fails."""
    from az_os import testservers

    try:
        import psycopg  # noqa: F401
    except ImportError:
        if _servers_required():
            raise
        pytest.skip("psycopg is not installed")
    if testservers.postgres_bin() is None and not _servers_required():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with testservers.postgres_server() as server:
        yield server


@pytest.fixture
def pg_dsn(pg_server: Any) -> str:
    """The DSN of a fresh, empty database on the session's PostgreSQL server."""
    return str(pg_server.create_database())


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server for the whole session (its ``redis://`` URL); skipped
    when redis-server is not installed, except in CI."""
    import shutil

    from az_os import testservers

    if shutil.which("redis-server") is None and not os.path.exists("/usr/bin/redis-server"):
        if not _servers_required():
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with testservers.redis_server() as url:
        yield url
