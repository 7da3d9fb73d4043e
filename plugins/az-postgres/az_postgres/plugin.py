"""az-postgres's commands: ``az db copy`` (and ``az db`` itself when
az-sqlite, which owns the group, is not installed).

The storage itself is the ``postgres`` entry point of the ``az.storage``
group (:class:`az_postgres.storage.PostgresStorage`). This module imports
nothing heavy: peewee and psycopg are imported when a command runs.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import typer


def _storage(backend: str) -> Any:
    """The ``backend`` storage of the current config (same home), opened afresh."""
    import msgspec
    from az_os.config import load_config
    from az_os.drivers import get_storage

    config = copy.copy(load_config())
    config.storage = msgspec.structs.replace(config.storage, backend=backend)
    return get_storage(config, cached=False)


def db_copy(
    source: str = typer.Option(
        ..., "--from", help="Storage backend to read, e.g. sqlite (its settings: storage.path)."
    ),
    target: str = typer.Option(
        ..., "--to", help="Storage backend to write, e.g. postgres (its settings: storage.dsn)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the row counts as JSON."),
) -> None:
    """Copy the whole history (tasks, turns, logs, costs, state, tool usage)
    from one storage backend to another, then check the row counts.

    Both backends read their settings from the same config: for example
    'az db copy --from sqlite --to postgres' reads <az home>/az.db (or
    storage.path) and writes to storage.dsn. Safe to re-run: rows already in
    the destination are recognised by their keys and not copied twice. After
    copying, point az at the new backend: az config set storage.backend postgres.

    JSON shape: {"from": str, "to": str, "tables": {table: {"source": rows,
    "copied": rows added now, "present": rows already there, "destination":
    rows after}}}.
    """
    from az_os.errors import AzError
    from az_os.sqlstore.copy import copy_history
    from az_os.sqlstore.store import SQLStorage

    if source == target:
        raise AzError(f"--from and --to are both '{source}'; nothing to copy")
    from az_os.redact import unwrap

    # the SQL backends behind the kernel's redacting wrapper: rows are copied
    # as they are stored (already masked when they were written)
    src = unwrap(_storage(source))
    dst = unwrap(_storage(target))
    for name, store in ((source, src), (target, dst)):
        if not isinstance(store, SQLStorage):
            raise AzError(f"az db copy works between SQL backends; '{name}' is not one")

    def progress(table: str, done: int, total: int) -> None:
        if not as_json:
            sys.stderr.write(f"\r{table}: {done:,}/{total:,} rows")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    try:
        report = copy_history(src, dst, progress)
    finally:
        src.close()
        dst.close()
    if as_json:
        out = {"from": src.location, "to": dst.location, "tables": report}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    sys.stdout.write(f"copied {src.location} -> {dst.location}\n")
    for table, n in report.items():
        sys.stdout.write(
            f"  {table:<14} {n['source']:>9,} in source, {n['copied']:>9,} copied, "
            f"{n['present']:>9,} already there; {n['destination']:,} in destination\n"
        )
    sys.stdout.write("counts checked: every source row is in the destination\n")
