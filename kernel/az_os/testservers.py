"""Real PostgreSQL and Redis servers for tests, started in temp dirs on free
loopback ports (never a shared system instance), so parallel runs do not
collide.

Used by the fixtures ``pg_server``/``pg_dsn`` and ``redis_url`` of
:mod:`az_os.testing`. The binaries come from Debian's ``postgresql`` and
``redis-server`` packages (``.ci/run`` installs them). PostgreSQL refuses to
run as root, so as root the server runs as the ``postgres`` user (created by
the Debian package). Nothing here is imported by az itself.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The password of the ``az`` superuser of a test PostgreSQL server.
PG_PASSWORD = "az-test-password"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb``, or the one on
    PATH, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port}")


class PostgresServer:
    """One running test server: ``port``, ``datadir``, :meth:`dsn`,
    :meth:`create_database`, :meth:`stop`, :meth:`start`."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root
        self.datadir = root / "data"
        self.port = port

    def dsn(self, dbname: str = "postgres", password: bool = True) -> str:
        """A ``postgresql://`` URL for the ``az`` superuser (with or without
        the password)."""
        auth = f"az:{PG_PASSWORD}" if password else "az"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def _ctl(self, *args: str) -> None:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", *args]
        subprocess.run(_as_server_user(cmd), check=True, capture_output=True)

    def start(self) -> None:
        """Start (or restart after :meth:`stop`) and wait until it accepts connections."""
        self._ctl("-l", str(self.root / "server.log"), "start")
        _wait_port(self.port, 60, "PostgreSQL")

    def stop(self, mode: str = "fast") -> None:
        """Stop (``mode``: smart, fast, immediate); connections are cut."""
        self._ctl("-m", mode, "stop")

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database; returns its DSN (with the password)."""
        import psycopg

        name = name or f"az_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server (initdb + pg_ctl) in a temp dir on a free
    loopback port, with a superuser ``az`` (password :data:`PG_PASSWORD`,
    scram-sha-256 over TCP); stop it and remove the dir on exit.
    Raises RuntimeError when the binaries are missing."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="az-pg-"))
    os.chmod(root, 0o755)
    pwfile = root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    port = free_port()
    server = PostgresServer(bindir, root, port)
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.datadir),
                "-U",
                "az",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    with open(server.datadir / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
            f"unix_socket_directories = '{root}'\nfsync = off\n"
            "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
        )
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """Start ``redis-server`` in a temp dir on a free loopback port (no
    persistence); yields its ``redis://127.0.0.1:PORT/0`` URL and stops it on
    exit. Raises RuntimeError when redis-server is missing."""
    exe = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if exe is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    root = Path(tempfile.mkdtemp(prefix="az-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(root),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, 30, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)
