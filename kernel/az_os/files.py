"""Private files under the az home: created readable by their owner only,
whatever the umask (the home holds prompts, tool output and config).

The lowest layer of the kernel: imports nothing of az, so config, the storage
backends and :mod:`az_os.util` (which re-exports these) can all use it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def private_dir(path: Path | str) -> Path:
    """Create directory ``path`` (and missing parents) readable by its owner
    only (mode 0700) whatever the umask: the az home holds prompts, tool
    output and keys' names. A directory that exists is left as it is.
    Raises :class:`OSError` when it cannot be created."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    return path


def private_file(path: Path | str) -> None:
    """Create ``path`` empty with mode 0600 whatever the umask, unless it
    exists (then it is left as it is). Raises :class:`OSError`."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    os.chmod(path, 0o600)  # the umask may have taken bits away, never added


def write_private_text(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically with mode 0600.

    Raises :class:`OSError` naming ``path`` (not the temporary file beside
    it) when the directory is read-only or the disk is full; ``path`` is
    then unchanged."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename in (None, str(tmp)):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def writable(path: Path | str) -> bool:
    """Whether this process may create or change the file ``path``: the file
    (when it exists) and its directory (or, when that is missing, the
    nearest existing ancestor, where it would be created) are writable.

    Uses ``os.access``, so it answers as the kernel would for this user: a
    read-only mount is never writable, and mode bits do not bind root.
    """
    path = Path(path)
    if path.exists() and not os.access(path, os.W_OK):
        return False
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return os.access(parent, os.W_OK | os.X_OK)
