"""What SQL storage backends share: one schema, one set of migrations, one
:class:`~az_os.storage.Storage` implementation on peewee.

A storage plugin on a database peewee speaks (``az-sqlite``, ``az-postgres``)
keeps only what is its own: how to connect (file checks, pragmas, WAL, a
DSN, reconnecting), how its migrations are serialised between processes,
its error messages and its ``az db`` commands. Everything else lives here,
so both backends store exactly the same rows and no plugin imports another.

Modules (each imports peewee; this package itself imports nothing heavy, so
``az --help`` never loads peewee):

* :mod:`az_os.sqlstore.schema`: ``bind_models(db)``, the peewee models of
  the tables, and ``TABLES``.
* :mod:`az_os.sqlstore.migrations`: ``MIGRATIONS``, the ordered schema
  changes written once with per-dialect column types, and
  ``MigrationRunner``, which a backend subclasses to lock and record them.
* :mod:`az_os.sqlstore.store`: ``SQLStorage``, the contract's methods over
  the models (including task claims and budget reservations for several
  workers); a backend subclasses it and connects ``self.db``.
* :mod:`az_os.sqlstore.copy`: ``copy_history(src, dst)``, copying every
  table from one backend to another, safe to re-run (``az db copy``).

Needs peewee: ``pip install 'az-os[sql]'`` (the storage plugins depend on
it, so installing one is enough).
"""
