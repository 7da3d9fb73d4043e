"""The design brief's ``SQLiteRepository``: parameterised SQL on az's SQLite database.

Values only ever travel as bound parameters. ``insert``, ``update`` and
``delete`` build their statements from a table name, column names and a
``where`` condition, and check every name against the database's own
schema (``sqlite_master`` and ``PRAGMA table_info``) before any SQL is
built, so a name cannot carry SQL. ``where`` is a small language checked
token by token: column names of the table, ``:named`` parameters,
comparison operators, ``AND``/``OR``/``NOT``, ``IS [NOT] NULL``, ``IN``,
``LIKE``, ``BETWEEN`` and parentheses; no literals, no functions, no second
statement. ``execute``/``fetch_all``/``fetch_one`` run the caller's own
statement (one statement; values as ``:named`` parameters).

The database is the one az uses (``storage.path``, default
``<az home>/az.db``), opened the way az-sqlite's storage backend opens it
(WAL, busy timeout, foreign keys, migrations), so the repository and ``az``
processes share it safely.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

    from az_sqlite.storage import SQLiteStorage

__all__ = ["SQLiteRepository"]

#: Words a ``where`` condition may use besides column names (case-insensitive).
WHERE_KEYWORDS = frozenset({"AND", "OR", "NOT", "IS", "NULL", "IN", "LIKE", "BETWEEN"})

_WHERE_TOKEN = re.compile(
    r"\s+|(?P<param>:[A-Za-z_][A-Za-z0-9_]*)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|<>|!=|==|=|<|>|\(|\)|,)"
)
_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_SET_PREFIX = "az_set_"


def _quote(name: str) -> str:
    """An identifier already checked against the schema, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


class SQLiteRepository:
    """Parameterised access to az's SQLite database (see the module docstring).

    ``path``: another az database file (created and migrated if missing);
    default: the one ``config`` (default: the process's config) points at.
    Every method runs in a worker thread; connections are per thread.

    Errors: :class:`~az_os.errors.UsageError` for an unknown table or
    column, a ``where`` outside the allowed language, a parameter that is
    missing or not used, or empty ``data``; :class:`~az_os.errors.StorageError`
    when SQLite refuses the statement (syntax, constraint, locked past the
    busy timeout) or the file cannot be opened.
    """

    def __init__(self, path: str | Path | None = None, *, config: AzConfig | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._config = config
        self._storage: SQLiteStorage | None = None

    @property
    def storage(self) -> SQLiteStorage:
        """The opened database (az-sqlite's storage backend on the file)."""
        if self._storage is None:
            from az_sqlite.storage import SQLiteStorage

            self._storage = SQLiteStorage(self._config, path=self._path)
        return self._storage

    @property
    def path(self) -> Path:
        return self.storage.path

    def close(self) -> None:
        """Close the connections (the repository reopens on next use)."""
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    # -- the caller's own statements -------------------------------------------
    async def execute(self, query: str, params: dict[str, Any] | None = None) -> Any:
        """Run one statement; returns the number of rows it changed (-1 for
        a statement that changes none, such as ``SELECT`` or DDL)."""
        import asyncio

        return await asyncio.to_thread(self._run, query, params, "rowcount")

    async def fetch_all(
        self, query: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one query; every row as ``{column: value}``."""
        import asyncio

        rows: list[dict[str, Any]] = await asyncio.to_thread(self._run, query, params, "all")
        return rows

    async def fetch_one(
        self, query: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Run one query; its first row as ``{column: value}``, or None."""
        import asyncio

        row: dict[str, Any] | None = await asyncio.to_thread(self._run, query, params, "one")
        return row

    # -- statements built from checked names -----------------------------------
    async def insert(self, table: str, data: dict[str, Any]) -> int:
        """Insert one row of ``data`` (``{column: value}``); returns its
        ``rowid`` (for az's tables with text ids, the SQLite row id, not
        the ``id`` column)."""
        import asyncio

        def run() -> int:
            columns = self._columns(table)
            self._check_data(table, data, columns)
            names = list(data)
            sql = (
                f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in names)}) "
                f"VALUES ({', '.join(f':{_SET_PREFIX}{i}' for i in range(len(names)))})"
            )
            values = {f"{_SET_PREFIX}{i}": data[c] for i, c in enumerate(names)}
            rowid: int = self._run(sql, values, "lastrowid")
            return rowid

        return await asyncio.to_thread(run)

    async def update(
        self, table: str, data: dict[str, Any], where: str, params: dict[str, Any]
    ) -> int:
        """Set the columns of ``data`` on the rows matching ``where`` (a
        condition with ``:named`` parameters from ``params``, such as
        ``"status = :status AND cost_usd > :min"``); returns the number of
        rows changed."""
        import asyncio

        def run() -> int:
            columns = self._columns(table)
            self._check_data(table, data, columns)
            condition = self._check_where(table, where, params, columns)
            names = list(data)
            sets = ", ".join(f"{_quote(c)} = :{_SET_PREFIX}{i}" for i, c in enumerate(names))
            values = {f"{_SET_PREFIX}{i}": data[c] for i, c in enumerate(names)}
            sql = f"UPDATE {_quote(table)} SET {sets} WHERE {condition}"
            count: int = self._run(sql, {**params, **values}, "rowcount")
            return count

        return await asyncio.to_thread(run)

    async def delete(self, table: str, where: str, params: dict[str, Any]) -> int:
        """Delete the rows of ``table`` matching ``where`` (as in
        :meth:`update`); returns the number of rows deleted (a task's turns,
        logs, costs... go with it: foreign keys cascade)."""
        import asyncio

        def run() -> int:
            columns = self._columns(table)
            condition = self._check_where(table, where, params, columns)
            count: int = self._run(
                f"DELETE FROM {_quote(table)} WHERE {condition}", params, "rowcount"
            )
            return count

        return await asyncio.to_thread(run)

    # -- checks ----------------------------------------------------------------
    def _columns(self, table: str) -> set[str]:
        """The columns of ``table``; UsageError when it is not a table of
        this database (SQLite's own ``sqlite_*`` tables are not offered)."""
        from az_os.errors import UsageError

        tables = {
            row["name"]
            for row in self._run(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                None,
                "all",
            )
        }
        if not isinstance(table, str) or table not in tables:
            raise UsageError(
                f"no table {table!r} in {self.path} (tables: {', '.join(sorted(tables))})"
            )
        rows = self._run(f"PRAGMA table_info({_quote(table)})", None, "all")
        return {row["name"] for row in rows}

    @staticmethod
    def _check_data(table: str, data: dict[str, Any], columns: set[str]) -> None:
        from az_os.errors import UsageError

        if not data:
            raise UsageError(f"no columns to write to {table}")
        unknown = [c for c in data if not isinstance(c, str) or c not in columns]
        if unknown:
            raise UsageError(
                f"no column {unknown[0]!r} in {table} (columns: {', '.join(sorted(columns))})"
            )

    @staticmethod
    def _check_where(table: str, where: str, params: dict[str, Any], columns: set[str]) -> str:
        """``where`` after checking every token; UsageError naming the first
        one outside the allowed language, and for parameters missing from
        ``params`` or given but not used."""
        from az_os.errors import UsageError

        if not isinstance(where, str) or not where.strip():
            raise UsageError(
                f"a where condition is required (to touch every row of {table}, "
                "use execute with your own statement)"
            )
        used: set[str] = set()
        pos = 0
        while pos < len(where):
            m = _WHERE_TOKEN.match(where, pos)
            if m is None:
                raise UsageError(
                    f"where: {where[pos : pos + 20]!r} is not allowed; use column names of "
                    f"{table}, :named parameters, comparison operators, AND/OR/NOT, "
                    "IS [NOT] NULL, IN, LIKE, BETWEEN and parentheses"
                )
            if m.group("param"):
                used.add(m.group("param")[1:])
            elif m.group("name"):
                word = m.group("name")
                if word.upper() not in WHERE_KEYWORDS and word not in columns:
                    raise UsageError(
                        f"where: no column {word!r} in {table} (columns: {', '.join(sorted(columns))})"
                    )
            pos = m.end()
        missing = sorted(used - set(params))
        if missing:
            raise UsageError(f"where: no value for :{missing[0]} in params")
        extra = sorted(set(params) - used)
        if extra:
            raise UsageError(f"params: {extra[0]!r} is not used in the where condition")
        if any(p.startswith(_SET_PREFIX) for p in used):
            raise UsageError(f"where: parameter names starting with {_SET_PREFIX!r} are reserved")
        return where

    # -- running -------------------------------------------------------------
    def _run(self, sql: str, params: dict[str, Any] | None, want: str) -> Any:
        from az_os.errors import StorageError, UsageError

        if params is not None and not isinstance(params, dict):
            raise UsageError("params must be a dict of :named values")
        db = self.storage.db
        try:
            cursor = db.execute_sql(sql, params or {})
            if want == "rowcount":
                return cursor.rowcount
            if want == "lastrowid":
                return cursor.lastrowid
            names = [d[0] for d in cursor.description or []]
            if want == "one":
                row = cursor.fetchone()
                return dict(zip(names, row, strict=True)) if row is not None else None
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except self.storage.db_errors() as exc:
            raise StorageError(f"{self.path}: {exc}") from None
