"""Single-choice backends, chosen by name from their entry-point group.

Storage is one backend per install (``storage.backend`` in config, default
``sqlite``), found in the ``az.storage`` entry-point group. Only the chosen
backend's module is imported.

The lookup reads the entry points the plugin host has already scanned
(:func:`az_os.plugins.installed_entry_points`) and loads the one named.
stevedore's ``DriverManager`` did the same with its own scan and cache
check, which cost about 16 ms on every command that opens the database
(``az task list`` has a 200 ms budget).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, cast

from az_os.errors import AzError, PluginMissingError, StorageError
from az_os.plugins import installed_entry_points
from az_os.redact import redacting

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.storage import Storage

STORAGE_NAMESPACE = "az.storage"

_cache: dict[tuple[str, str], Storage] = {}
_lock = threading.Lock()


def storage_backends() -> list[str]:
    """Names of the installed storage backends."""
    return sorted({ep.name for ep in installed_entry_points(STORAGE_NAMESPACE)})


def get_storage(config: AzConfig | None = None, *, cached: bool = True) -> Storage:
    """Open the configured storage backend.

    Returns a :class:`~az_os.storage.Storage` whose writes mask known
    secrets (:func:`az_os.redact.redacting`; the backend itself is
    ``.backend``); with ``cached`` the same
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
        found = [ep for ep in installed_entry_points(STORAGE_NAMESPACE) if ep.name == name]
        if not found:
            hint = (
                "pip install az-sqlite"
                if name == "sqlite"
                else f"install the '{name}' storage plugin"
            )
            raise PluginMissingError(
                f"no storage backend '{name}' is installed ({hint}); "
                f"storage.backend in {config.path} chooses it"
            )
        try:
            storage = cast("Storage", found[0].load()(config))
        except AzError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"storage backend '{name}' failed to start: {exc}") from exc
        # every write masks the secrets az knows (az_os.redact)
        storage = redacting(storage)
        if cached:
            _cache[key] = storage
        return storage


def close_all() -> None:
    """Close every cached backend (tests, process exit)."""
    with _lock:
        for s in _cache.values():
            s.close()
        _cache.clear()
