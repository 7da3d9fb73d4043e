"""The ``[keyring]`` config section.

In ``config.toml``::

    [keyring]
    backend = "auto"   # auto (the OS keyring), cryptfile, or a backend's class path
    file = "..."       # cryptfile only: where the encrypted file lives

``AZ_KEYRING__BACKEND=cryptfile`` overrides the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from az_os.config import parse_section
from az_os.types import Record

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

SECTION = "keyring"


class KeyringSettings(Record, kw_only=True):
    """The validated ``[keyring]`` section (see the module docstring)."""

    #: ``auto``, ``cryptfile`` or a keyring backend's class path
    backend: str = "auto"
    #: the cryptfile backend's file (default: under the az home)
    file: str | None = None


def load_settings(config: AzConfig) -> KeyringSettings:
    """``[keyring]`` of ``config``; ConfigError naming the key when invalid."""
    return parse_section(KeyringSettings, SECTION, config.section(SECTION), str(config.path))
