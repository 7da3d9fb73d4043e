"""peewee, imported without the database drivers it loads eagerly.

``import peewee`` tries ``psycopg2``, ``psycopg``, ``pymysql``... at import
time, and psycopg alone costs tens of milliseconds: with az-postgres merely
installed, ``az task list`` on SQLite would pay for it (its budget is
200 ms). This module imports peewee with those drivers hidden, so they come
out as "not installed"; a backend that needs one attaches it afterwards
(az-postgres does, for psycopg 3). Every SQL module of az imports peewee as
``from az_os.sqlstore.driverless import peewee as pw``.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

#: Driver modules peewee imports eagerly, hidden while it is first imported.
HIDDEN = ("psycopg2", "psycopg2cffi", "psycopg", "pymysql", "MySQLdb", "mysql")


def _load() -> ModuleType:
    if "peewee" in sys.modules:
        return sys.modules["peewee"]
    hidden = [name for name in HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import → ImportError
    try:
        import peewee
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return peewee  # type: ignore[no-any-return, unused-ignore]


peewee: Any = _load()
