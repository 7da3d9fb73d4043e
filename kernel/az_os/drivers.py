"""Single-choice backends, chosen by name through stevedore.

Storage is one backend per install (``storage.backend`` in config, default
``sqlite``), found in the ``az.storage`` entry-point group. Only the chosen
backend's module is imported.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, cast

from az_os.errors import PluginMissingError, StorageError

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.storage import Storage

STORAGE_NAMESPACE = "az.storage"

_cache: dict[tuple[str, str], Storage] = {}
_lock = threading.Lock()


def storage_backends() -> list[str]:
    """Names of the installed storage backends."""
    from az_os.plugins import installed_entry_points

    return sorted({ep.name for ep in installed_entry_points(STORAGE_NAMESPACE)})


def get_storage(config: AzConfig | None = None, *, cached: bool = True) -> Storage:
    """Open the configured storage backend.

    Returns a :class:`~az_os.storage.Storage`; with ``cached`` the same
    object is returned for the same backend and home in this process.
    Raises :class:`~az_os.errors.PluginMissingError` when no backend of that
    name is installed (the message says what to install) and
    :class:`~az_os.errors.StorageError` when it cannot be opened.
    """
    from az_os.config import load_config

    config = config or load_config()
    name = config.storage.backend
    key = (name, str(config.home))
    with _lock:
        if cached and key in _cache:
            return _cache[key]
        if name not in storage_backends():
            hint = (
                "pip install az-sqlite"
                if name == "sqlite"
                else f"install the '{name}' storage plugin"
            )
            raise PluginMissingError(
                f"no storage backend '{name}' is installed ({hint}); "
                f"storage.backend in {config.path} chooses it"
            )
        from stevedore import DriverManager

        try:
            mgr: DriverManager[Storage] = DriverManager(
                namespace=STORAGE_NAMESPACE,
                name=name,
                invoke_on_load=True,
                invoke_args=(config,),
                on_load_failure_callback=_raise,
            )
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"storage backend '{name}' failed to start: {exc}") from exc
        storage = cast("Storage", mgr.driver)
        if cached:
            _cache[key] = storage
        return storage


def _raise(manager: object, entrypoint: object, exc: BaseException) -> None:
    raise exc


def close_all() -> None:
    """Close every cached backend (tests, process exit)."""
    with _lock:
        for s in _cache.values():
            s.close()
        _cache.clear()
