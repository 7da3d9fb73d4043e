"""The vector-store contract: collections of embedded documents.

Retrieval over the workspace (``az-rag``) and lessons across tasks
(``az-memory``) both need embeddings and a nearest-neighbour index, and
plugins never import each other, so the index is a kernel contract with a
single-choice backend, like storage:

* a backend is a :class:`VectorStore` subclass exposed in the
  ``az.vectorstore`` entry-point group (``chroma`` from ``az-chroma`` is the
  default);
* ``vectorstore.backend`` in ``config.toml`` (or ``AZ_VECTORSTORE__BACKEND``)
  chooses it and :func:`get_vectorstore` loads only that one;
* a backend embeds text itself (its own default embedding, or the LiteLLM
  model named by ``vectorstore.embedding_model``), so callers pass text and
  get text back.

Shapes: a document is an ``id`` (str, unique in its collection), its
``text`` and ``metadata`` (a flat dict of str, int, float or bool values).
:meth:`Collection.query` returns :class:`Hit` records, best first, whose
``score`` is the cosine similarity of the query's and the document's
embeddings (1.0 identical, 0.0 unrelated). ``where`` filters are a flat dict
``{key: value}``: every key must equal its value.

Errors: backends raise :class:`VectorStoreError` (one line) when the store
cannot be opened, read or written (a corrupt collection, a missing
embedding model). Nothing here imports a backend's libraries.

Cheap look: :func:`peek_count` tells how many documents a collection holds
without opening the store (no vector library, no embedding model), so a hook
that runs at every task start (``az_context``) pays for the store only when
there is something to search.

Cheap write: :func:`queue_upsert` puts documents in a small pending queue
(a JSON file beside the store, ``<vectorstore path>/pending.json``) instead
of embedding them now, so a hook that runs at every task end does not open
the store. :func:`get_vectorstore` inserts the queued documents whenever the
store is opened (:func:`flush_pending`), so readers see them. The queue
survives a killed process: a document leaves it only after its collection's
upsert returned, and re-inserting one that was inserted but not yet removed
replaces it (same id), so a killed or concurrent flush neither loses nor
duplicates anything; flushes and writes to the queue take a file lock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import msgspec

from az_os.entrypoints import installed_entry_points
from az_os.errors import AzError

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from az_os.config import AzConfig

VECTORSTORE_NAMESPACE = "az.vectorstore"

#: A metadata value a backend must store and filter on.
MetaValue = str | int | float | bool
Metadata = dict[str, MetaValue]


class VectorStoreError(AzError):
    """The vector store cannot be opened, read or written (one-line message)."""

    exit_code = 5


class VectorStoreSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``[vectorstore]`` section."""

    #: name of an ``az.vectorstore`` entry point
    backend: str = "chroma"
    #: where the backend keeps its files; empty means ``<az home>/vectors``
    path: str = ""
    #: a LiteLLM embedding model id (``openai/text-embedding-3-small``);
    #: empty means the backend's own offline model
    embedding_model: str = ""


def vectorstore_settings(config: AzConfig) -> VectorStoreSettings:
    """The ``[vectorstore]`` section, validated (:class:`~az_os.errors.ConfigError`
    names the key when a value is wrong)."""
    from az_os.config import parse_section

    return parse_section(
        VectorStoreSettings, "vectorstore", config.section("vectorstore"), str(config.path)
    )


def vectorstore_path(config: AzConfig) -> Path:
    """The directory the configured backend keeps its files in."""
    from pathlib import Path

    raw = vectorstore_settings(config).path
    return Path(raw).expanduser() if raw else config.home / "vectors"


class Hit(msgspec.Struct, kw_only=True):
    """One document found by :meth:`Collection.query` or read by :meth:`Collection.get`."""

    id: str
    text: str
    metadata: Metadata = msgspec.field(default_factory=dict)
    #: cosine similarity to the query (higher is closer); 0.0 from ``get``
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class Collection(ABC):
    """A named set of embedded documents. Methods are synchronous and
    thread-safe; each raises :class:`VectorStoreError` on failure."""

    #: the collection's name
    name: str = ""

    @abstractmethod
    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, MetaValue]] | None = None,
    ) -> None:
        """Embed and store documents, replacing any with the same id.
        ``ids``, ``texts`` and ``metadatas`` have the same length; an empty
        call does nothing."""

    @abstractmethod
    def delete(
        self, ids: Sequence[str] | None = None, where: Mapping[str, MetaValue] | None = None
    ) -> None:
        """Remove the documents with these ids, or matching ``where``.
        Unknown ids are ignored; with neither argument nothing is removed."""

    @abstractmethod
    def query(
        self, text: str, k: int = 5, where: Mapping[str, MetaValue] | None = None
    ) -> list[Hit]:
        """The ``k`` documents closest to ``text`` (best first), among those
        matching ``where``. An empty collection or empty text gives ``[]``."""

    @abstractmethod
    def get(
        self,
        ids: Sequence[str] | None = None,
        where: Mapping[str, MetaValue] | None = None,
        limit: int | None = None,
    ) -> list[Hit]:
        """Documents by id or filter (all of them with neither), in no
        particular order, ``score`` 0.0. Unknown ids are left out."""

    @abstractmethod
    def count(self) -> int:
        """How many documents the collection holds."""


class VectorStore(ABC):
    """A vector-store backend, constructed as ``Backend(config)`` with the
    :class:`~az_os.config.AzConfig` in force."""

    #: human-readable location (a directory or a URL without password)
    location: str = ""

    @abstractmethod
    def collection(self, name: str, create: bool = True) -> Collection:
        """The collection ``name`` (created empty when ``create``).
        Raises :class:`~az_os.errors.NotFoundError` when it does not exist
        and ``create`` is false; names are 3-63 characters of letters,
        digits, ``._-`` (else :class:`VectorStoreError`)."""

    @abstractmethod
    def list_collections(self) -> list[str]:
        """Names of the existing collections, sorted."""

    @abstractmethod
    def drop(self, name: str) -> bool:
        """Delete a collection and its documents; False if it did not exist."""

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings of ``texts`` (unit vectors of the backend's dimension),
        from the same model the collections use."""

    @property
    def embedding_model(self) -> str:
        """The id of the model that embeds text (e.g. ``all-MiniLM-L6-v2-onnx-int8``)."""
        return ""

    def close(self) -> None:  # noqa: B027 - optional for backends
        """Release files and connections. Safe to call twice."""

    @classmethod
    def peek_count(cls, config: AzConfig, name: str) -> int | None:
        """How many documents collection ``name`` holds (0 when it does not
        exist), found without opening the store: no vector library, no
        embedding model, a few milliseconds. ``None`` when the backend cannot
        tell that cheaply (the default); callers then open the store. Never
        raises: an unreadable store gives ``None``. The backend's module
        must be importable without its heavy libraries for this to be cheap."""
        return None


def vectorstore_backends() -> list[str]:
    """Names of the installed vector-store backends."""
    return sorted({ep.name for ep in installed_entry_points(VECTORSTORE_NAMESPACE)})


def get_vectorstore(
    config: AzConfig | None = None, *, cached: bool = True, flush: bool = True
) -> VectorStore:
    """Open the configured vector-store backend.

    Returns a :class:`VectorStore`; with ``cached`` the same object for the
    same backend and directory in this process (the embedding model is then
    loaded once). With ``flush`` the documents queued by :func:`queue_upsert`
    are inserted first (a ``stat`` when there are none); when that fails they
    stay queued and a warning is logged, the store is still returned. Raises
    :class:`~az_os.errors.PluginMissingError` when no backend of that name is
    installed and :class:`VectorStoreError` when it cannot be opened.
    """
    from az_os.config import load_config

    config = config or load_config()
    settings = vectorstore_settings(config)
    name = settings.backend
    from az_os.drivers import get_driver

    hint = "pip install az-chroma" if name == "chroma" else f"install the '{name}' plugin"
    store = get_driver(
        VECTORSTORE_NAMESPACE,
        name,
        args=(config,),
        cache_key=(name, str(vectorstore_path(config)), settings.embedding_model)
        if cached
        else None,
        missing=f"no vector-store backend '{name}' is installed ({hint}); "
        f"vectorstore.backend in {config.path} chooses it",
        error=VectorStoreError,
    )
    opened = cast("VectorStore", store)
    if flush:
        try:
            flush_pending(config, opened)
        except VectorStoreError as exc:
            import logging

            logging.getLogger("az.vectors").warning("queued documents not inserted: %s", exc)
    return opened


def peek_count(config: AzConfig, name: str) -> int | None:
    """How many documents collection ``name`` of the configured backend
    holds, without opening the store (see :meth:`VectorStore.peek_count`):
    0 when it does not exist, ``None`` when the backend cannot tell cheaply
    or no backend of that name is installed. Never raises."""
    try:
        backend = vectorstore_settings(config).backend
        eps = [ep for ep in installed_entry_points(VECTORSTORE_NAMESPACE) if ep.name == backend]
        if not eps:
            return None
        cls = eps[0].load()
        if not (isinstance(cls, type) and issubclass(cls, VectorStore)):
            return None
        count = cls.peek_count(config, name)
    except Exception:  # noqa: BLE001 - a hint: any failure means "unknown"
        return None
    return count if isinstance(count, int) and count >= 0 else None


#: the pending queue's file name, inside the store's directory
PENDING_FILE = "pending.json"
#: seconds to wait for another process's flush before giving up
PENDING_LOCK_TIMEOUT = 120.0


def pending_path(config: AzConfig) -> Path:
    """The pending queue's file: ``<vectorstore path>/pending.json``, a JSON
    object ``{collection: {id: {"text": str, "metadata": {...}}}}``."""
    return vectorstore_path(config) / PENDING_FILE


def _read_pending(path: Path, *, locked: bool = False) -> dict[str, dict[str, Any]]:
    """The queue's documents (``{}`` when there is no queue). A file that is
    not a JSON object is, when ``locked``, moved aside to
    ``pending.json.unreadable-<epoch seconds>`` (kept for a person to look
    at, never overwritten) with a warning."""
    import json
    import os
    import time

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        if locked and path.is_file():
            import logging

            keep = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
            os.replace(path, keep)
            logging.getLogger("az.vectors").warning(
                "the pending queue %s was unreadable; kept as %s", path, keep
            )
        return {}
    return {c: docs for c, docs in data.items() if isinstance(docs, dict) and docs}


def _lock_pending(path: Path) -> Any:
    from az_os.util import file_lock

    return file_lock(path, timeout=PENDING_LOCK_TIMEOUT)


def queue_upsert(
    config: AzConfig,
    collection: str,
    ids: Sequence[str],
    texts: Sequence[str],
    metadatas: Sequence[Mapping[str, MetaValue]] | None = None,
) -> None:
    """Queue documents for ``collection`` without opening the store: they
    are embedded and upserted the next time the store is opened
    (:func:`get_vectorstore`) or by :func:`flush_pending`. Same shapes as
    :meth:`Collection.upsert`; a queued id replaces the same id queued
    before. A few milliseconds (a locked JSON rewrite), no vector library.

    Raises :class:`VectorStoreError` when the queue cannot be written (the
    directory is read-only, another process held the lock for
    :data:`PENDING_LOCK_TIMEOUT` seconds); nothing is queued then."""
    if not ids:
        return
    if len(ids) != len(texts) or (metadatas is not None and len(metadatas) != len(ids)):
        raise VectorStoreError("queue_upsert: ids, texts and metadatas differ in length")
    from filelock import Timeout

    from az_os.util import write_json

    path = pending_path(config)
    metas = list(metadatas) if metadatas is not None else [{}] * len(ids)
    try:
        with _lock_pending(path):
            data = _read_pending(path, locked=True)
            docs = data.setdefault(collection, {})
            for i, text, meta in zip(ids, texts, metas, strict=True):
                docs.pop(i, None)  # re-queued: moves to the end
                docs[i] = {"text": text, "metadata": dict(meta or {})}
            write_json(path, data)
    except (OSError, Timeout, TypeError) as exc:
        raise VectorStoreError(
            f"cannot queue documents for '{collection}' in {path}: {exc}"
        ) from exc


def pending(config: AzConfig, collection: str) -> list[Hit]:
    """Documents queued for ``collection`` and not yet in the store, oldest
    first, ``score`` 0.0. Never raises: an unreadable queue gives ``[]``."""
    docs = _read_pending(pending_path(config)).get(collection, {})
    out = []
    for i, doc in docs.items():
        if isinstance(doc, dict) and isinstance(doc.get("text"), str):
            meta = doc.get("metadata")
            out.append(Hit(id=i, text=doc["text"], metadata=meta if isinstance(meta, dict) else {}))
    return out


def flush_pending(config: AzConfig, store: VectorStore | None = None) -> int:
    """Upsert every queued document into ``store`` (the configured one when
    not given), collection by collection, and remove each collection's
    documents from the queue once its upsert returned. Returns how many
    were inserted (0, without opening anything, when nothing is queued).

    Holds the queue's lock throughout, so two processes flushing at once
    insert each document once. Raises :class:`VectorStoreError` when the
    store refuses a collection's documents (those stay queued, and the
    collections flushed before stay flushed) or the lock is not free
    within :data:`PENDING_LOCK_TIMEOUT` seconds."""
    from filelock import Timeout

    from az_os.util import write_json

    path = pending_path(config)
    if not path.is_file():
        return 0
    try:
        with _lock_pending(path):
            data = _read_pending(path, locked=True)
            if data and store is None:
                store = get_vectorstore(config, flush=False)
            done = 0
            for name in list(data):
                items = [
                    (i, d) for i, d in data[name].items()
                    if isinstance(d, dict) and isinstance(d.get("text"), str)
                ]  # fmt: skip
                if items and store is not None:
                    store.collection(name).upsert(
                        [i for i, _ in items],
                        [d["text"] for _, d in items],
                        [d.get("metadata") or {} for _, d in items],
                    )
                done += len(items)
                del data[name]
                if data:
                    write_json(path, data)
            path.unlink(missing_ok=True)
            return done
    except (OSError, Timeout) as exc:
        raise VectorStoreError(f"cannot flush the pending documents in {path}: {exc}") from exc


def discard_pending(config: AzConfig, collection: str) -> int:
    """Drop the documents queued for ``collection`` (a backend's
    :meth:`VectorStore.drop` calls this, so a dropped collection does not
    come back at the next flush). Returns how many were queued."""
    from filelock import Timeout

    from az_os.util import write_json

    path = pending_path(config)
    if not path.is_file():
        return 0
    try:
        with _lock_pending(path):
            data = _read_pending(path, locked=True)
            gone = len(data.pop(collection, {}))
            if gone:
                if data:
                    write_json(path, data)
                else:
                    path.unlink(missing_ok=True)
            return gone
    except (OSError, Timeout) as exc:
        raise VectorStoreError(f"cannot change the pending documents in {path}: {exc}") from exc


def close_all() -> None:
    """Close every cached vector-store backend (tests, process exit)."""
    from az_os.drivers import close_all as close_drivers

    close_drivers(VECTORSTORE_NAMESPACE)
