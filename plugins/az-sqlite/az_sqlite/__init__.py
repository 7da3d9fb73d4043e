"""az-sqlite: the kernel's storage contract on SQLite (:mod:`az_sqlite.storage`),
and :class:`SQLiteRepository` (:mod:`az_sqlite.repository`), the design
brief's parameterised SQL access (``from az_os.data.interfaces import
SQLiteRepository``)."""

from az_sqlite.repository import SQLiteRepository

__all__ = ["SQLiteRepository"]
