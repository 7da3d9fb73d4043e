"""The server's bearer token (``AZ_SERVER_TOKEN``).

Where it is read from, in order: the ``AZ_SERVER_TOKEN`` environment
variable; a secrets plugin (``az_get_secret``, e.g. the OS keyring); the
file ``<az home>/server/token`` (mode 0600).

Where a new one is stored (:func:`rotate`): a secrets plugin when one takes
it (``az_set_secret``), else that file, readable by its owner only.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TOKEN_NAME = "AZ_SERVER_TOKEN"


def token_file(home: Path) -> Path:
    return home / "server" / "token"


def read_token(home: Path) -> tuple[str | None, str]:
    """The token and where it came from (``environment``, ``secrets``,
    the file path), or ``(None, "")``."""
    if os.environ.get(TOKEN_NAME):
        return os.environ[TOKEN_NAME], "environment"
    from az_os.plugins import get_host

    value = get_host().pm.hook.az_get_secret(name=TOKEN_NAME)
    if value:
        return str(value), "secrets"
    path = token_file(home)
    try:
        text = path.read_text().strip()
    except OSError:
        return None, ""
    return (text, str(path)) if text else (None, "")


def write_file(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` created with mode 0600 (never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (value + "\n").encode())
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def rotate(home: Path) -> tuple[str, str]:
    """A new random token (256 bits, URL-safe), stored; returns it and where."""
    from az_os.plugins import get_host

    value = secrets.token_urlsafe(32)
    path = token_file(home)
    if get_host().set_secret(TOKEN_NAME, value):
        path.unlink(missing_ok=True)  # an old file token must not outlive a rotation
        return value, "secrets"
    write_file(path, value)
    return value, str(path)
