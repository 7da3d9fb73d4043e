"""The workspace index: files → chunks → the vector store, plus a BM25 index.

Everything a collection keeps besides the vectors lives in
``<az home>/rag/<collection>/``:

* ``manifest.json`` - the root directory and, per file (path relative to the
  root), its size, mtime, sha256 and chunks (id, lines, kind, symbol, text);
* ``bm25/`` - the ``bm25s`` index over the same chunks, rebuilt when
  anything changed.

Incremental: a file whose size and mtime are unchanged is skipped; one whose
sha256 is unchanged is skipped too; a changed file's old chunks are deleted
and its new ones embedded; files that disappeared leave the index. The
manifest is written after every batch, so an interrupted run resumes.

Skipped: whatever ``.gitignore`` files (at any depth) exclude, hidden files
and directories, virtualenvs and caches, files over ``rag.max_file_bytes``, binaries
(a NUL byte or invalid UTF-8 in the first 8 KiB) and unreadable files (listed
in the report, never an exception).

Search is hybrid by default: the vector store's dense hits and BM25's hits
fused by reciprocal rank (score ``Σ 1 / (60 + rank)``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from az_os.errors import AzError

from az_rag.chunking import chunk_file

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.vectors import Collection

#: reciprocal-rank-fusion constant (Cormack et al. 2009)
RRF_K = 60
#: chunks embedded per vector-store call
BATCH = 64
ALWAYS_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".nox",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".az", ".idea", ".eggs"}
)  # fmt: skip
SKIP_SUFFIXES = (".min.js", ".min.css", ".map", ".lock", ".svg", ".pyc")
#: data files (not prose or code) are indexed only up to this size (bytes)
DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".xml", ".yaml", ".yml", ".txt")
DATA_MAX_BYTES = 100_000
MODES = ("hybrid", "dense", "bm25")


class RagError(AzError):
    """The workspace index cannot be used (one line)."""


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``[rag]`` section."""

    #: files larger than this are skipped (bytes)
    max_file_bytes: int = 1_000_000
    #: index a task's workspace before its first model call
    auto_index: bool = True
    #: seconds auto-indexing may take before the rest goes to the background
    auto_index_seconds: float = 20.0
    #: tokens of retrieved snippets per task (at most agent.context_tokens)
    context_tokens: int = 500
    #: least cosine similarity for a snippet to enter a task's context
    min_score: float = 0.3


def settings(config: AzConfig) -> Settings:
    """``[rag]`` read from config (unknown keys or bad values: ConfigError)."""
    from az_os.config import parse_section

    return parse_section(Settings, "rag", config.section("rag"), str(config.path))


def collection_for(root: Path) -> str:
    """The default collection name of a directory: ``ws-<name>-<hash>``."""
    root = root.resolve()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", root.name).strip("-_")[:40] or "root"
    digest = hashlib.sha1(str(root).encode(), usedforsecurity=False).hexdigest()[:8]
    return f"ws-{slug}-{digest}"


@dataclass
class Report:
    """What one :meth:`RagIndex.index` run did (times in seconds)."""

    collection: str
    root: str
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    timed_out: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return out


@dataclass
class Result:
    """One search result: a chunk of a file (lines ``start``-``end``)."""

    path: str
    start: int
    end: int
    score: float
    snippet: str
    symbol: str = ""
    kind: str = ""
    #: cosine similarity from the vector store (None when dense did not find it)
    dense_score: float | None = None
    #: rank in the BM25 list (1 = best; None when BM25 did not find it)
    bm25_rank: int | None = None
    id: str = ""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start}-{self.end}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_text(path: Path, limit: int) -> tuple[str | None, str]:
    """(text, "") or (None, why it is skipped)."""
    try:
        size = path.stat().st_size
        if size > limit:
            return None, f"larger than {limit} bytes"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    head = data[:8192]
    if b"\x00" in head:
        return None, "binary"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                return None, "binary"
        return data.decode("utf-8", errors="replace"), ""


_WORD = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def bm25_tokens(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lower-case words; identifiers also give their parts
    (``get_vectorStore`` → ``get_vectorstore get vector store``)."""
    out: list[str] = []
    for word in _WORD.findall(text):
        if not (word[0].isalnum() or word[0] == "_"):
            if word.isalpha():  # a letter of another script: keep it
                out.append(word.lower())
            continue
        low = word.lower()
        if low not in stopwords and len(low) > 1:
            out.append(low)
        parts = [p.lower() for piece in word.split("_") for p in _CAMEL.findall(piece)]
        if len(parts) > 1:
            out.extend(p for p in parts if len(p) > 1 and p not in stopwords)
    return out


class _Ignore:
    """``.gitignore`` rules of every directory from the root down."""

    def __init__(self) -> None:
        self._specs: list[tuple[Path, Any]] = []

    def add_dir(self, directory: Path) -> None:
        gi = directory / ".gitignore"
        if gi.is_file():
            import pathspec

            try:
                lines = gi.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                return
            self._specs.append((directory, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, path: Path, is_dir: bool) -> bool:
        for base, spec in self._specs:
            try:
                rel = path.relative_to(base).as_posix()
            except ValueError:
                continue
            if spec.match_file(rel + ("/" if is_dir else "")):
                return True
        return False


def walk(paths: Sequence[Path]) -> Iterator[Path]:
    """Files under ``paths`` (files given directly are kept), honouring
    ``.gitignore`` and skipping :data:`ALWAYS_SKIP_DIRS`, in sorted order."""
    for top in paths:
        if top.is_file():
            yield top
            continue
        ignore = _Ignore()
        # the rules of the enclosing repository's directories apply too
        chain: list[Path] = []
        for parent in top.parents:
            chain.append(parent)
            if (parent / ".git").exists():
                for d in reversed(chain):
                    ignore.add_dir(d)
                break
        if any(ignore.ignored(d, True) for d in [top, *top.parents]):
            ignore = _Ignore()  # asked for explicitly: the repository's rules do not hide it
        stack = [top]
        while stack:
            d = stack.pop()
            ignore.add_dir(d)
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name, reverse=True)
            except OSError:
                continue
            for e in entries:
                p = Path(e.path)
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                    is_file = e.is_file(follow_symlinks=False)
                except OSError:
                    continue
                if e.name.startswith("."):
                    continue  # hidden files and directories (.git, .env, .gitignore, ...)
                if is_dir:
                    if e.name in ALWAYS_SKIP_DIRS or ignore.ignored(p, True):
                        continue
                    stack.append(p)
                elif is_file and not e.name.endswith(SKIP_SUFFIXES):
                    if not ignore.ignored(p, False):
                        yield p


class RagIndex:
    """One collection's index over files under ``root``.

    ``RagIndex(config, root, collection=None)``: the collection defaults to
    :func:`collection_for(root) <collection_for>`.
    """

    def __init__(self, config: AzConfig, root: Path, collection: str | None = None) -> None:
        self.config = config
        self.root = root.resolve()
        self.name = collection or collection_for(self.root)
        self.settings = settings(config)
        self.dir = config.home / "rag" / self.name
        self._manifest: dict[str, Any] | None = None
        self._coll: Collection | None = None
        #: chunk id -> (path, chunk row), built from the manifest on first search
        self._chunks: dict[str, tuple[str, list[Any]]] | None = None

    # -- state ---------------------------------------------------------------
    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            path = self.dir / "manifest.json"
            data: dict[str, Any] = {}
            if path.is_file():
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    data = {}  # damaged: rebuilt from the files
            if not isinstance(data.get("files"), dict):
                data = {"files": {}}
            data.setdefault("root", str(self.root))
            self._manifest = data
        return self._manifest

    def exists(self) -> bool:
        return (self.dir / "manifest.json").is_file()

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "manifest.json.tmp"
        tmp.write_text(json.dumps(self.manifest), encoding="utf-8")
        os.replace(tmp, self.dir / "manifest.json")

    def collection(self) -> Collection:
        if self._coll is None:
            from az_os.vectors import get_vectorstore

            self._coll = get_vectorstore(self.config).collection(self.name)
        return self._coll

    def _rel(self, path: Path) -> str:
        p = path.resolve()
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def _abs(self, rel: str) -> Path:
        return Path(rel) if os.path.isabs(rel) else self.root / rel

    # -- indexing --------------------------------------------------------------
    def index(
        self,
        paths: Sequence[Path] | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        deadline: float | None = None,
    ) -> Report:
        """Bring the index up to date with the files under ``paths``
        (default: the root). ``progress(done, total, path)`` is called per
        file; ``deadline`` is a :func:`time.monotonic` time after which the
        run stops early (``timed_out``; the rest is done next time).
        Raises :class:`~az_os.vectors.VectorStoreError` when the store fails."""
        from filelock import FileLock, Timeout

        started = time.monotonic()
        tops = [Path(p).resolve() for p in (paths or [self.root])]
        report = Report(collection=self.name, root=str(self.root))
        missing = [p for p in tops if not p.exists()]
        for p in missing:
            report.skipped.append((str(p), "does not exist"))
        tops = [p for p in tops if p.exists()]
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.dir / "index.lock"))
        try:
            lock.acquire(timeout=0 if deadline is not None else 600)
        except Timeout:
            raise RagError(
                f"collection '{self.name}' is being indexed by another process; try again soon"
            ) from None
        try:
            self._manifest = None  # another process may have written it
            self._index(tops, report, progress, deadline)
        finally:
            self._chunks = None
            lock.release()
        report.chunks_total = sum(len(f["chunks"]) for f in self.manifest["files"].values())
        report.seconds = round(time.monotonic() - started, 3)
        return report

    def _index(
        self,
        tops: list[Path],
        report: Report,
        progress: Callable[[int, int, str], None] | None,
        deadline: float | None,
    ) -> None:
        files: dict[str, Any] = self.manifest["files"]
        limit = self.settings.max_file_bytes
        candidates = []
        for p in walk(tops):
            candidates.append(p)
            if deadline is not None and time.monotonic() > deadline:
                report.timed_out = True
                break
        seen: set[str] = set()
        pending: list[tuple[str, dict[str, Any], list[tuple[str, str, dict[str, Any]]]]] = []
        changed = False

        def flush() -> None:
            nonlocal changed
            if not pending:
                return
            coll = self.collection()
            old_ids = [c[0] for rel, _, _ in pending for c in files.get(rel, {}).get("chunks", [])]
            if old_ids:
                coll.delete(ids=old_ids)
            docs = [d for _, _, ds in pending for d in ds]
            for i in range(0, len(docs), BATCH):
                part = docs[i : i + BATCH]
                coll.upsert([d[0] for d in part], [d[1] for d in part], [d[2] for d in part])
            for rel, entry, ds in pending:
                files[rel] = entry
                report.chunks_added += len(ds)
            pending.clear()
            changed = True
            self.manifest["bm25_stale"] = True
            self._save()

        total = len(candidates)
        batch_chunks = 0
        for n, path in enumerate(candidates, start=1):
            if deadline is not None and time.monotonic() > deadline:
                report.timed_out = True
                break
            rel = self._rel(path)
            seen.add(rel)
            report.files_seen += 1
            if progress:
                progress(n, total, rel)
            old = files.get(rel)
            try:
                st = path.stat()
            except OSError as exc:
                report.skipped.append((rel, f"unreadable: {exc.strerror or exc}"))
                continue
            if old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns:
                report.files_unchanged += 1
                continue
            text, why = _read_text(
                path, min(limit, DATA_MAX_BYTES) if path.name.endswith(DATA_SUFFIXES) else limit
            )
            if text is None:
                report.skipped.append((rel, why))
                if old:
                    seen.discard(rel)  # now unreadable or binary: leaves the index
                continue
            sha = hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()
            if old and old.get("sha256") == sha:
                old["size"], old["mtime_ns"] = st.st_size, st.st_mtime_ns
                report.files_unchanged += 1
                continue
            chunks = chunk_file(path.name, text)
            entry: dict[str, Any] = {
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": sha,
                "chunks": [],
            }
            docs = []
            for i, c in enumerate(chunks):
                cid = f"{rel}#{i}"
                entry["chunks"].append([cid, c.start, c.end, c.kind, c.symbol, c.text])
                header = f"{rel} {c.symbol}".strip()
                meta = {"path": rel, "start": c.start, "end": c.end, "kind": c.kind}
                if c.symbol:
                    meta["symbol"] = c.symbol
                docs.append((cid, f"{header}\n{c.text}", meta))
            pending.append((rel, entry, docs))
            report.files_indexed += 1
            batch_chunks += len(docs)
            if batch_chunks >= BATCH * 2:
                flush()
                batch_chunks = 0
        flush()
        # files under the indexed paths that are gone (or now skipped) leave the index
        if not report.timed_out:
            gone = [
                rel
                for rel in files
                if rel not in seen and any(_under(self._abs(rel), t) for t in tops)
            ]
            if gone:
                ids = [c[0] for rel in gone for c in files[rel]["chunks"]]
                if ids:
                    self.collection().delete(ids=ids)
                for rel in gone:
                    del files[rel]
                report.files_removed = len(gone)
                changed = True
        self.manifest["indexed_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.manifest["root"] = str(self.root)
        if changed or self.manifest.get("bm25_stale") or not (self.dir / "bm25").exists():
            self._build_bm25()
        self._save()

    def _build_bm25(self) -> None:
        import bm25s
        from bm25s.stopwords import STOPWORDS_EN

        stop = frozenset(STOPWORDS_EN)
        ids: list[str] = []
        corpus: list[list[str]] = []
        for rel, entry in self.manifest["files"].items():
            for cid, _s, _e, _k, symbol, text in entry["chunks"]:
                ids.append(cid)
                corpus.append(bm25_tokens(f"{rel} {symbol}\n{text}", stop) or ["_empty_"])
        target = self.dir / "bm25"
        shutil.rmtree(target, ignore_errors=True)
        if ids:
            retriever = bm25s.BM25()
            retriever.index(corpus, show_progress=False)
            retriever.save(str(target), show_progress=False)
        else:
            target.mkdir(parents=True, exist_ok=True)
        (target / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
        self.manifest["bm25_stale"] = False
        _BM25_CACHE.pop(str(target), None)

    # -- search ----------------------------------------------------------------
    def _chunk_map(self) -> dict[str, tuple[str, list[Any]]]:
        """Chunk id -> (path, chunk row), kept until the index changes
        (it walks every chunk of the manifest: once, not per search)."""
        if self._chunks is None:
            out: dict[str, tuple[str, list[Any]]] = {}
            for rel, entry in self.manifest["files"].items():
                for c in entry["chunks"]:
                    out[c[0]] = (rel, c)
            self._chunks = out
        return self._chunks

    def dense(self, query: str, n: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        return [(h.id, h.score) for h in self.collection().query(query, k=n)]

    def bm25(self, query: str, n: int) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only chunks sharing a word."""
        loaded = _load_bm25(self.dir / "bm25")
        if loaded is None:
            return []
        retriever, ids, stop = loaded
        vocab = retriever.vocab_dict
        tokens = [t for t in bm25_tokens(query, stop) if t in vocab]
        if not tokens or not ids:
            return []
        import numpy as np

        scores = retriever.get_scores(tokens)
        n = min(n, len(ids))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Result]:
        """The ``k`` best chunks for ``query`` (``mode``: hybrid, dense or bm25).
        An empty query or an empty index gives ``[]``."""
        if mode not in MODES:
            raise RagError(f"unknown search mode '{mode}' (choose {', '.join(MODES)})")
        if not query.strip() or k <= 0:
            return []
        if not any(f["chunks"] for f in self.manifest["files"].values()):
            return []  # nothing indexed: the vector store is not opened
        n = max(k * 4, 20)
        dense = self.dense(query, n) if mode in ("hybrid", "dense") else []
        sparse = self.bm25(query, n) if mode in ("hybrid", "bm25") else []
        fused: dict[str, float] = {}
        for ranked in (dense, sparse):
            for rank, (cid, _) in enumerate(ranked, start=1):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
        dense_scores = dict(dense)
        bm25_ranks = {cid: r for r, (cid, _) in enumerate(sparse, start=1)}
        chunks = self._chunk_map()
        out: list[Result] = []
        for cid, score in sorted(fused.items(), key=lambda kv: -kv[1]):
            if cid not in chunks:
                continue  # in the store but not the manifest (an interrupted run)
            rel, (_, start, end, kind, symbol, text) = chunks[cid]
            out.append(
                Result(
                    path=rel,
                    start=start,
                    end=end,
                    score=round(score, 6),
                    snippet=text,
                    symbol=symbol,
                    kind=kind,
                    dense_score=round(dense_scores[cid], 4) if cid in dense_scores else None,
                    bm25_rank=bm25_ranks.get(cid),
                    id=cid,
                )
            )
            if len(out) == k:
                break
        return out

    # -- status and drop -------------------------------------------------------
    def status(self) -> dict[str, Any]:
        files = self.manifest["files"]
        return {
            "collection": self.name,
            "root": self.manifest.get("root", str(self.root)),
            "files": len(files),
            "chunks": sum(len(f["chunks"]) for f in files.values()),
            "bytes": sum(int(f.get("size", 0)) for f in files.values()),
            "indexed_at": self.manifest.get("indexed_at"),
        }

    def drop(self) -> bool:
        """Remove the collection's vectors and state; False if there was none."""
        from az_os.vectors import get_vectorstore

        had = self.dir.exists()
        store = get_vectorstore(self.config)
        dropped = store.drop(self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        _BM25_CACHE.pop(str(self.dir / "bm25"), None)
        self._manifest, self._coll, self._chunks = None, None, None
        return had or dropped


def _under(path: Path, top: Path) -> bool:
    return path == top or top in path.parents


_BM25_CACHE: dict[str, tuple[float, Any, list[str], frozenset[str]]] = {}


def _load_bm25(target: Path) -> tuple[Any, list[str], frozenset[str]] | None:
    """The saved BM25 index (cached per process until its files change)."""
    ids_file = target / "ids.json"
    try:
        stamp = ids_file.stat().st_mtime_ns
    except OSError:
        return None
    cached = _BM25_CACHE.get(str(target))
    if cached and cached[0] == stamp:
        return cached[1], cached[2], cached[3]
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN

    try:
        ids = json.loads(ids_file.read_text(encoding="utf-8"))
        retriever = bm25s.BM25.load(str(target)) if ids else None
    except (OSError, ValueError) as exc:
        raise RagError(f"BM25 index at {target} is damaged ({exc}); run az rag index") from None
    if retriever is None:
        return None
    stop = frozenset(STOPWORDS_EN)
    _BM25_CACHE[str(target)] = (stamp, retriever, ids, stop)
    return retriever, ids, stop


def list_collections(config: AzConfig) -> Iterable[str]:
    """Names of the collections ``az rag`` has state for, sorted."""
    base = config.home / "rag"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "manifest.json").is_file())
