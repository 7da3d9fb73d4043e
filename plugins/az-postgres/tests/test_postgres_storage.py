"""PostgresStorage itself: migrations on a real server (the contract is the
kernel's parametrised suite, tests/test_storage_contract.py)."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
from az_os.errors import StorageError
from az_os.sqlstore.migrations import LATEST_VERSION, MIGRATIONS
from az_postgres.storage import PostgresStorage

NAMES = [m.__name__ for m in MIGRATIONS]


def test_new_database_gets_every_migration_once(pg_dsn: str) -> None:
    s = PostgresStorage(dsn=pg_dsn)
    assert s.applied_migrations == NAMES
    info = s.schema_info()
    assert info["schema_version"] == LATEST_VERSION and info["pending"] == []
    assert set(info["tables"]) >= {"tasks", "turns", "task_logs"}
    s.close()
    assert PostgresStorage(dsn=pg_dsn).applied_migrations == []


def test_newer_database_is_refused(pg_dsn: str) -> None:
    PostgresStorage(dsn=pg_dsn).close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO _migrations VALUES ('m099_from_the_future', 0)")
    with pytest.raises(StorageError, match="newer az-postgres.*m099_from_the_future"):
        PostgresStorage(dsn=pg_dsn)


RACE = """
import sys
from az_postgres.storage import PostgresStorage
print(",".join(PostgresStorage(dsn=sys.argv[1]).applied_migrations))
"""


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_apply_each_migration_once(pg_dsn: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", RACE, pg_dsn], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    applied = [n for out in outs for n in out.split(",") if n]
    assert sorted(applied) == sorted(NAMES)


def test_bad_dsn_is_one_line() -> None:
    with pytest.raises(StorageError, match="not a valid PostgreSQL DSN"):
        PostgresStorage(dsn="host=127.0.0.1 port")
