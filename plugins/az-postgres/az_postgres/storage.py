"""``PostgresStorage``: the kernel's :class:`~az_os.storage.Storage` on PostgreSQL.

The tables, migrations and every contract method are the kernel's shared SQL
store (:mod:`az_os.sqlstore`), the same as ``az-sqlite``'s; this module is
the PostgreSQL connection around them, through peewee's PostgreSQL support
on psycopg 3 (peewee 4: ``PostgresqlDatabase(prefer_psycopg3=True)``; peewee
3.17/3.18: ``playhouse.psycopg3_ext.Psycopg3Database``).

Where: ``storage.dsn`` from config (``AZ_STORAGE__DSN``), a
``postgresql://user@host:port/db`` URL or a libpq ``key=value`` string
(``storage.url`` is accepted too). A DSN without a password takes it from
``AZ_POSTGRES_PASSWORD`` (the environment, then the ``az_get_secret`` hook,
e.g. the OS keyring), else libpq's own sources (``PGPASSWORD``,
``~/.pgpass``). The password never appears in messages: ``location`` is
``postgresql://user@host:port/db``.

Several processes and hosts share one database: migrations take a
transaction-scoped advisory lock, so racing openers apply each once; claims
and budget reservations are single ``UPDATE ... WHERE`` statements or run
under row locks.

Connection loss: a call on a connection the server dropped (restart,
failover, network) is retried once on a new connection; if the server is
still unreachable the call raises a one-line
:class:`~az_os.errors.StorageError` ("cannot reach PostgreSQL at ..."). The
engine then marks the task ``interrupted`` if it can still write, otherwise
the next ``az`` command that opens the database does (the task's process is
gone).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from az_os.errors import AzError, StorageError
from az_os.sqlstore.migrations import MigrationRunner
from az_os.sqlstore.store import SQLStorage, guard

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

#: Seconds to wait for a connection before giving up.
CONNECT_TIMEOUT_S = 10
#: pg_advisory_xact_lock key serialising migrators ("az" schema lock).
MIGRATION_LOCK = 0x617A_6D69
#: The secret (environment variable name) holding the password.
PASSWORD_SECRET = "AZ_POSTGRES_PASSWORD"


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (not a bad query)."""
    from az_os.sqlstore.driverless import peewee as pw

    low = str(exc).lower()
    if isinstance(exc, pw.InterfaceError):
        return True
    return isinstance(exc, pw.OperationalError) and any(
        s in low
        for s in (
            "server closed",
            "terminating connection",
            "connection",
            "consuming input failed",
            "the connection is lost",
            "ssl syscall",
        )
    )


def parse_dsn(dsn: str) -> dict[str, Any]:
    """libpq parameters of ``dsn`` (URL or key=value). Raises StorageError
    with the reason when it cannot be parsed."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    if dsn.startswith("postgres://"):
        dsn = "postgresql://" + dsn[len("postgres://") :]
    try:
        return dict(conninfo_to_dict(dsn))
    except psycopg.ProgrammingError as exc:
        raise StorageError(f"storage.dsn is not a valid PostgreSQL DSN: {exc}") from None


def redacted(params: dict[str, Any]) -> str:
    """``postgresql://user@host:port/db`` for messages (no password)."""
    user = params.get("user")
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    db = params.get("dbname") or user or ""
    return f"postgresql://{user + '@' if user else ''}{host}:{port}/{db}"


def _attach_psycopg(pw: Any) -> None:
    """Give peewee psycopg 3 when it was imported without drivers
    (:mod:`az_os.sqlstore.driverless`): set the module names and adapter
    constants its import would have set (peewee 4)."""
    if getattr(pw, "psycopg", False) is not None or not hasattr(pw, "Psycopg3Adapter"):
        return  # peewee 3 (playhouse.psycopg3_ext imports it) or already there
    import psycopg
    from psycopg.pq import TransactionStatus
    from psycopg.types.json import Json, Jsonb

    pw.psycopg, pw.TransactionStatus = psycopg, TransactionStatus
    pw.Json_pg3, pw.Jsonb_pg3 = Json, Jsonb
    adapter = pw.Psycopg3Adapter
    adapter.txn_idle = TransactionStatus.IDLE
    adapter.txn_inerror = TransactionStatus.INERROR
    adapter.txn_unknown = TransactionStatus.UNKNOWN


def _database(params: dict[str, Any]) -> Any:
    """A peewee PostgreSQL database on psycopg 3."""
    from az_os.sqlstore.driverless import peewee as pw

    _attach_psycopg(pw)

    params = dict(params)
    dbname = params.pop("dbname", None) or params.get("user") or "postgres"
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", "az")
    try:  # peewee 3.17/3.18
        from playhouse.psycopg3_ext import Psycopg3Database
    except ImportError:  # peewee 4: psycopg 3 is built in
        return pw.PostgresqlDatabase(dbname, prefer_psycopg3=True, autorollback=False, **params)
    return Psycopg3Database(dbname, **params)


class PostgresMigrations(MigrationRunner):
    """The shared migrations on PostgreSQL: each in a transaction holding a
    transaction-scoped advisory lock, so processes opening a new database
    together apply each migration once."""

    def __init__(self, db: Any, location: str) -> None:
        super().__init__(db, location, product="az-postgres")

    @contextmanager
    def lock(self) -> Iterator[None]:
        with self.db.atomic():
            self.db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield


class PostgresStorage(SQLStorage):
    """The ``postgres`` storage backend.

    ``PostgresStorage(config)`` connects to ``storage.dsn``; ``dsn=`` connects
    elsewhere. Attributes: ``location`` (the DSN without password),
    ``applied_migrations``, ``interrupted`` (as for az-sqlite).
    ``migrate=False`` connects without migrating or marking anything.

    Raises :class:`StorageError` (one line) when no DSN is configured, the
    server cannot be reached or refuses the login, or the database was
    written by a newer az-postgres.
    """

    insertion_order = "seq"

    def __init__(
        self,
        config: AzConfig | None = None,
        *,
        dsn: str | None = None,
        migrate: bool = True,
    ) -> None:
        import psycopg

        self.driver_errors = (psycopg.Error,)
        if dsn is None:
            if config is None:
                from az_os.config import load_config

                config = load_config()
            dsn = config.storage.dsn or config.storage.url
            if not dsn:
                raise StorageError(
                    "storage.backend is 'postgres' but no storage.dsn is set: "
                    "az config set storage.dsn postgresql://USER@HOST:5432/DB "
                    "(or AZ_STORAGE__DSN)"
                )
        params = parse_dsn(dsn)
        self.location = redacted(params)
        if not params.get("password"):
            secret = _password()
            if secret:
                params["password"] = secret
        self.bind(_database(params))
        self.applied_migrations: list[str] = []
        self.interrupted: list[str] = []
        self._open(migrate)

    def _reset_connection(self) -> None:
        try:
            self.db.close()
        except Exception:  # noqa: BLE001 - it is broken already
            state = getattr(self.db, "_state", None)
            if state is not None:
                state.reset()

    @guard
    def _open(self, migrate: bool) -> None:
        try:
            self.db.connect(reuse_if_open=True)
            runner = PostgresMigrations(self.db, self.location)
            runner.pending()  # refuse a database from a newer az-postgres
            if migrate:
                self.applied_migrations = runner.migrate()
                self.interrupted = self.mark_interrupted()
        except BaseException:
            self.close()
            raise

    def _error(self, exc: BaseException) -> StorageError:
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        low = msg.lower()
        if "password authentication failed" in low or "no password supplied" in low:
            return StorageError(
                f"{self.location}: login refused ({msg}); put the password in storage.dsn, "
                f"{PASSWORD_SECRET} or the keyring"
            )
        if "does not exist" in low and "database" in low:
            return StorageError(f"{self.location}: {msg} (createdb it first)")
        if _connection_lost(exc) or "connection refused" in low or "timeout" in low:
            return StorageError(f"cannot reach PostgreSQL at {self.location}: {msg}")
        return StorageError(f"{self.location}: {msg}")

    @contextmanager
    def _serialized(self, key: str) -> Iterator[None]:
        """A transaction holding the advisory lock of ``key``: READ COMMITTED
        alone would let two workers read the same sums and both reserve."""
        with self.db.atomic():
            self.db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
            yield

    def _id_prefix(self, T: Any, prefix: str) -> Any:
        from az_os.sqlstore.driverless import peewee as pw

        return pw.fn.LEFT(T.id, len(prefix)) == prefix

    # -- administration ------------------------------------------------------
    @guard
    def schema_info(self) -> dict[str, Any]:
        """``{"schema_version", "latest_version", "applied", "pending",
        "tables": {name: rows}}``."""
        from az_os.sqlstore.migrations import LATEST_VERSION
        from az_os.sqlstore.schema import TABLES

        runner = PostgresMigrations(self.db, self.location)
        present = set(self.db.get_tables())
        return {
            "schema_version": runner.version(),
            "latest_version": LATEST_VERSION,
            "applied": runner.applied(),
            "pending": runner.pending(),
            "tables": {
                t: self.db.execute_sql(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in TABLES
                if t in present
            },
        }


#: Contract methods retried once after a dropped connection: every public
#: method of the contract (and of the shared store) except ``close``.
_RETRIED = frozenset(
    name
    for name in dir(SQLStorage)
    if not name.startswith("_")
    and name not in ("close", "bind", "db_errors")
    and callable(getattr(SQLStorage, name))
)


def _retrying(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` run once more on a new connection when the first attempt
    found the connection dropped (outside a transaction only)."""

    @functools.wraps(method)
    def call(self: PostgresStorage, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StorageError as exc:
            cause = exc.__cause__
            if cause is None or not _connection_lost(cause) or self.db.in_transaction():
                raise
            self._reset_connection()
            return method(self, *args, **kwargs)

    return call


for _name in _RETRIED:
    setattr(PostgresStorage, _name, _retrying(getattr(SQLStorage, _name)))


def _password() -> str | None:
    """``AZ_POSTGRES_PASSWORD`` from the environment or the secrets hook."""
    import os

    if os.environ.get(PASSWORD_SECRET):
        return os.environ[PASSWORD_SECRET]
    try:
        from az_os.plugins import get_host

        return get_host().get_secret(PASSWORD_SECRET)
    except AzError:
        return None
