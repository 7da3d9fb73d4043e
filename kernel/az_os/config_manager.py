"""The design brief's ``ConfigManager``: async access to ``config.toml``.

It goes through the same functions as ``az config`` (:func:`~az_os.config.
load_config`, :func:`~az_os.config.set_value`, :func:`~az_os.config.
unset_value`), so values are validated the same way and errors carry the
same one-line messages (:class:`~az_os.errors.ConfigError`, e.g.
``config.toml: key 'agent.max_turns': expected an integer >= 1 (0)``).
File access runs in a worker thread, so the event loop never blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from az_os.config import AzConfig, config_path, load_config, set_value, unset_value
from az_os.errors import ConfigError
from az_os.threads import in_thread

__all__ = ["ConfigManager"]


class ConfigManager:
    """Read and change az's settings by dotted key (``"agent.max_turns"``).

    ``path`` is the config file (default: ``<az home>/config.toml``, the
    file ``az config`` uses); ``env`` the environment whose ``AZ_*``
    variables override it (default: ``os.environ``). Reads see those
    overrides and the defaults, as ``az config get`` does; writes change
    only the file.
    """

    def __init__(
        self, path: Path | str | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.env = env

    def _load(self) -> AzConfig:
        return load_config(self.env, self.path)

    def _file(self) -> Path:
        return self.path if self.path is not None else config_path(self.env)

    async def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` (a dotted key; a section gives a dict), with
        defaults filled in; ``default`` when no such key exists. Raises
        ConfigError when the file or an ``AZ_*`` variable is invalid."""

        def run() -> Any:
            try:
                return self._load().get(key)
            except ConfigError as exc:
                if str(exc) == f"unknown config key '{key}'":
                    return default
                raise

        return await in_thread(run)

    async def set(self, key: str, value: Any) -> None:
        """Write ``key = value`` to the file, keeping its comments and layout.
        ``value`` is a Python value (int, float, bool, str, list, dict).
        The new file is validated first: an invalid value or key raises
        ConfigError (as ``az config set``) and leaves the file untouched."""
        await in_thread(lambda: set_value(key, value, self._file()))

    async def get_all(self) -> dict[str, Any]:
        """Every setting as ``{section: {key: value}}``, defaults filled in
        (``az config get --all --json``)."""
        return await in_thread(lambda: self._load().to_dict())

    async def delete(self, key: str) -> bool:
        """Remove ``key`` from the file (it goes back to its default); False
        when it was not set there."""
        return await in_thread(lambda: unset_value(key, self._file()))
