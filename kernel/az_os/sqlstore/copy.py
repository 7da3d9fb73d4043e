"""Copy an az history from one SQL backend to another (``az db copy``).

Every table of :data:`~az_os.sqlstore.schema.TABLES` (tasks, turns, logs,
costs, state, tool usage, checkpoints) is read from the source and written to the
destination in batches, parents first so foreign keys hold. Serial ids are
not copied (the destination numbers its own rows); a row is identified by
its natural key instead, so copying again adds only what is missing and
never duplicates:

============== ===========================================================
table          key
============== ===========================================================
tasks          ``id``
turns          ``(task_id, turn_index)``
task_state     ``task_id``
tool_usage     ``(task_id, tool_name)``
checkpoints    ``id``
task_logs      every column but ``id``
cost_tracking  every column but ``id``
============== ===========================================================

At the end every source row's key is looked up in the destination again;
a missing one raises :class:`~az_os.errors.StorageError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from az_os.errors import StorageError
from az_os.sqlstore.driverless import peewee as pw
from az_os.sqlstore.schema import TABLES
from az_os.sqlstore.store import SQLStorage

#: Rows per INSERT batch.
BATCH = 2000

KEYS: dict[str, tuple[str, ...] | None] = {
    "tasks": ("id",),
    "turns": ("task_id", "turn_index"),
    "task_state": ("task_id",),
    "tool_usage": ("task_id", "tool_name"),
    "task_logs": None,
    "cost_tracking": None,
    "checkpoints": ("id",),
}


def _columns(store: SQLStorage, table: str) -> list[str]:
    model = next(m for m in vars(store.m).values() if m._meta.table_name == table)
    cols = [f.column_name for f in model._meta.sorted_fields]
    serial = isinstance(model._meta.primary_key, pw.AutoField)
    return [c for c in cols if c != "id"] if serial else cols


def _key(table: str, cols: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    names = KEYS[table]
    if names is None:
        return tuple(row)
    return tuple(row[cols.index(n)] for n in names)


def _keys(store: SQLStorage, table: str, cols: list[str]) -> set[tuple[Any, ...]]:
    cursor = store.db.execute_sql(f"SELECT {', '.join(cols)} FROM {table}")
    return {_key(table, cols, tuple(r)) for r in cursor}


def copy_history(
    src: SQLStorage,
    dst: SQLStorage,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Copy every table from ``src`` to ``dst`` (see the module docstring).

    ``progress(table, done, total)`` is called after each batch. Returns
    ``{table: {"source": rows, "copied": rows added now, "present": rows
    already there, "destination": rows after}}``. Raises StorageError when a
    source row is missing from the destination afterwards.
    """
    report: dict[str, dict[str, int]] = {}
    unknown = [t for t in TABLES if t not in KEYS]
    if unknown:  # a new table must say how its rows are recognised
        raise StorageError(f"az db copy does not know the key of {', '.join(unknown)}")
    for table in TABLES:
        cols = _columns(src, table)
        order = "created_at" if table == "tasks" else "id"
        rows = [
            tuple(r)
            for r in src.db.execute_sql(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
        ]
        have = _keys(dst, table, cols)
        todo = [r for r in rows if _key(table, cols, r) not in have]
        marks = ", ".join([dst.db.param] * len(cols))
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
        for i in range(0, len(todo), BATCH):
            batch = todo[i : i + BATCH]
            with dst.db.atomic():
                dst.db.cursor().executemany(sql, batch)
            if progress:
                progress(table, min(i + BATCH, len(todo)), len(todo))
        after = _keys(dst, table, cols)
        missing = [r for r in rows if _key(table, cols, r) not in after]
        if missing:
            raise StorageError(
                f"copy of {table} incomplete: {len(missing)} of {len(rows)} rows missing "
                f"in {dst.location}"
            )
        count = dst.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        report[table] = {
            "source": len(rows),
            "copied": len(todo),
            "present": len(rows) - len(todo),
            "destination": int(count),
        }
    return report
