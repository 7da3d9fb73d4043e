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
    """Write ``text`` (UTF-8) to ``path`` atomically with mode 0600."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
