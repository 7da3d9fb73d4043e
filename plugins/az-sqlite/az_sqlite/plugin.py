"""``az db``: create, migrate and inspect the SQLite database.

The storage itself is the ``sqlite`` entry point of the ``az.storage`` group
(:class:`az_sqlite.storage.SQLiteStorage`); this module only adds commands.
It imports nothing heavy: peewee is imported when a command runs.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

db_app = typer.Typer(
    help=(
        "Create, migrate and inspect az's SQLite database (<az home>/az.db, or storage.path). "
        "Any az command that stores data creates and migrates it on first use; these "
        "commands are for checking it and starting over."
    ),
    no_args_is_help=True,
)


def _path() -> tuple[Any, Path]:
    from az_os.config import load_config

    from az_sqlite.storage import database_path

    config = load_config()
    return config, database_path(config)


def _backup_name(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def backup_files(path: Path) -> Path:
    """Move ``path`` and its ``-wal``/``-shm`` companions to
    ``<name>.bak-<UTC time>`` (same suffixes), so the backup keeps any
    committed data still in the WAL. Returns the backup's main path."""
    import os

    backup = _backup_name(path)
    os.replace(path, backup)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, backup.with_name(backup.name + suffix))
    return backup


@db_app.command("init")
def db_init(
    force: bool = typer.Option(
        False,
        "--force",
        help="Start a new, empty database; the old file is first moved to "
        "<name>.bak-<time> (never deleted).",
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask before --force moves the old file."
    ),
) -> None:
    """Create the database (and apply every migration).

    Without --force an existing database is kept (it is migrated if it is
    older); with --force it is backed up and replaced by an empty one, which
    is also how to get going again after 'az: error: ... database file is
    corrupt'.
    """
    from az_os.drivers import close_all

    from az_sqlite.storage import SQLiteStorage

    config, path = _path()
    exists = path.exists() and path.stat().st_size > 0
    if exists and not force:
        storage = SQLiteStorage(config)
        version = storage.schema_info()["schema_version"]
        storage.close()
        sys.stdout.write(
            f"{path} already exists (schema version {version}); kept as is. "
            "'az db init --force' backs it up and starts a new one.\n"
        )
        return
    backup = None
    if exists:
        if not yes:
            typer.confirm(
                f"Move {path} aside (to {path.name}.bak-<time>) and create an empty database?",
                abort=True,
            )
        close_all()
        backup = backup_files(path)
    storage = SQLiteStorage(config)
    storage.close()
    if backup:
        sys.stdout.write(f"backed up the old database to {backup}\n")
    sys.stdout.write(f"created {path} (schema version {len(storage.applied_migrations)})\n")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (opening the database does this too; this
    says what was applied). A database from a newer az-sqlite is refused."""
    from az_sqlite.storage import SQLiteStorage

    config, path = _path()
    storage = SQLiteStorage(config)
    info = storage.schema_info()
    storage.close()
    if storage.applied_migrations:
        sys.stdout.write(
            f"applied {', '.join(storage.applied_migrations)} to {path} "
            f"(schema version {info['schema_version']})\n"
        )
    else:
        sys.stdout.write(f"{path} is up to date (schema version {info['schema_version']})\n")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@db_app.command("status")
def db_status(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Show the database: path, size, schema version, pending migrations and
    row counts. Does not create or migrate anything.

    JSON shape: {"path": str, "exists": bool, "size_bytes": int (main file),
    "wal_bytes": int (write-ahead log not yet copied into it),
    "schema_version": int, "latest_version": int, "applied": [names],
    "pending": [names], "journal_mode": str, "tables": {table: rows}}.
    """
    from az_sqlite.storage import SQLiteStorage

    config, path = _path()
    data: dict[str, Any] = {
        "path": str(path),
        "exists": path.exists(),
        "size_bytes": _size(path),
        "wal_bytes": _size(path.with_name(path.name + "-wal")),
    }
    if path.exists():
        storage = SQLiteStorage(config, migrate=False)
        data.update(storage.schema_info())
        storage.close()
    else:
        from az_sqlite.migrations import LATEST_VERSION, MIGRATIONS

        data.update(
            schema_version=0,
            latest_version=LATEST_VERSION,
            applied=[],
            pending=[m.__name__ for m in MIGRATIONS],
            journal_mode=None,
            tables={},
        )
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not data["exists"]:
        console.print(
            f"No database yet at {path}: 'az db init' creates it "
            "(so does any command that stores data)."
        )
        return
    console.print(f"[bold]path[/]            {data['path']}")
    console.print(
        f"[bold]size[/]            {data['size_bytes']:,} bytes "
        f"(+ {data['wal_bytes']:,} in the WAL)"
    )
    pending = f", pending: {', '.join(data['pending'])}" if data["pending"] else ""
    console.print(
        f"[bold]schema version[/]  {data['schema_version']} of {data['latest_version']}{pending}"
    )
    console.print(f"[bold]journal mode[/]    {data['journal_mode']}")
    table = Table(box=None, header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in data["tables"].items():
        table.add_row(name, f"{count:,}")
    console.print(table)
