"""Single-choice backends, chosen by name from their entry-point group.

Some parts have exactly one implementation per install, chosen in config:
storage (``storage.backend``, group ``az.storage``) today, a vector store or
a secrets backend from other plugins. Each is an entry point whose object,
called with the arguments the group defines, returns the backend::

    [project.entry-points."az.storage"]
    sqlite = "az_sqlite:SQLiteStorage"

:func:`get_driver` loads one by name with stevedore's ``DriverManager``:
only the chosen entry point's module is imported, stevedore's entry-point
cache (a file under the user cache directory, checked against the
``sys.path`` entries' mtimes) spares a scan of every installed
distribution, and a failure to start becomes one clear error. Measured
cost on ``az task list``: docs/architecture.md ("Single-choice backends").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from az_os.errors import AzError, PluginMissingError, StorageError
from az_os.redact import redacting

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.storage import Storage

T = TypeVar("T")

STORAGE_NAMESPACE = "az.storage"

_cache: dict[tuple[str, Hashable], Any] = {}
_lock = threading.RLock()


def driver_names(group: str) -> list[str]:
    """Names of the installed backends in entry-point ``group``, sorted."""
    from az_os.entrypoints import installed_entry_points

    return sorted({ep.name for ep in installed_entry_points(group)})


def get_driver(
    group: str,
    name: str,
    *,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    cache_key: Hashable | None = None,
    missing: str | None = None,
    error: Callable[[str], AzError] = AzError,
    wrap: Callable[[Any], Any] | None = None,
) -> Any:
    """The backend ``name`` of entry-point ``group``: its entry point is
    loaded and called with ``args``/``kwargs`` (``invoke_on_load`` in
    stevedore's terms).

    ``wrap``, when given, is applied to the new backend (a proxy that adds
    behaviour to every backend of the group). With ``cache_key`` the result
    is kept per ``(group, cache_key)`` for the process and returned again
    (close them with :func:`close_all`).

    Raises :class:`~az_os.errors.PluginMissingError` when no backend of that
    name is installed (its message is ``missing`` when given, else one that
    lists the installed backends), and ``error`` (an
    :class:`~az_os.errors.AzError` subclass, default AzError) when it fails
    to import or start;
    an AzError the backend raises itself passes through unchanged.
    """
    with _lock:
        if cache_key is not None and (group, cache_key) in _cache:
            return _cache[(group, cache_key)]
        from stevedore import driver, exception

        def failed(_manager: Any, _ep: Any, exc: BaseException) -> None:
            raise exc

        try:
            manager = driver.DriverManager(
                namespace=group,
                name=name,
                invoke_on_load=True,
                invoke_args=args,
                invoke_kwds=kwargs or {},
                on_load_failure_callback=failed,
                on_missing_entrypoints_callback=lambda names: None,
            )
        except exception.NoMatches:
            installed = ", ".join(driver_names(group)) or "none"
            raise PluginMissingError(
                missing
                or f"no '{group}' backend named '{name}' is installed (installed: {installed})"
            ) from None
        except AzError:
            raise
        except Exception as exc:  # noqa: BLE001 - any backend failure becomes one clear error
            raise error(f"{_kind(group)} backend '{name}' failed to start: {exc}") from exc
        backend = manager.driver
        if wrap is not None:
            backend = wrap(backend)
        if cache_key is not None:
            _cache[(group, cache_key)] = backend
        return backend


def _kind(group: str) -> str:
    """``az.storage`` -> ``storage``, as error messages say it."""
    return group.rsplit(".", 1)[-1]


def storage_backends() -> list[str]:
    """Names of the installed storage backends."""
    return driver_names(STORAGE_NAMESPACE)


def get_storage(config: AzConfig | None = None, *, cached: bool = True) -> Storage:
    """Open the configured storage backend (``storage.backend``, group
    ``az.storage``; the entry point is called with the config).

    Returns a :class:`~az_os.storage.Storage` whose writes mask known
    secrets (:func:`az_os.redact.redacting`; the backend itself is
    ``.backend``); with ``cached`` the same object is returned for the same
    backend and home in this process.
    Raises :class:`~az_os.errors.PluginMissingError` when no backend of that
    name is installed (the message says what to install) and
    :class:`~az_os.errors.StorageError` when it cannot be opened.
    """
    from az_os.config import load_config

    config = config or load_config()
    name = config.storage.backend
    hint = "pip install az-sqlite" if name == "sqlite" else f"install the '{name}' storage plugin"
    storage = get_driver(
        STORAGE_NAMESPACE,
        name,
        args=(config,),
        cache_key=(name, str(config.home)) if cached else None,
        missing=f"no storage backend '{name}' is installed ({hint}); "
        f"storage.backend in {config.path} chooses it",
        error=StorageError,
        # every write masks the secrets az knows (az_os.redact)
        wrap=redacting,
    )
    return cast("Storage", storage)


def close_all(group: str | None = None) -> None:
    """Close every cached backend (of ``group`` only, when given) that has
    a ``close()``, and forget it (tests, process exit)."""
    with _lock:
        for key in [k for k in _cache if group is None or k[0] == group]:
            close = getattr(_cache.pop(key), "close", None)
            if callable(close):
                close()
