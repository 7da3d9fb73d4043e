"""The ``chroma`` vector-store backend: a chromadb ``PersistentClient``.

Files live in ``vectorstore.path`` (default ``<az home>/vectors``).
Collections use the cosine space and the embedding function registered
in :mod:`az_chroma.functions` under the name ``az-onnx-minilm`` (or
``az-litellm`` when ``vectorstore.embedding_model`` is set), so chromadb
records which model a collection was built with and refuses to mix them.
Telemetry is off.

Importing this module does not import chromadb (the store does, when it is
opened), so :meth:`ChromaVectorStore.peek_count` stays cheap.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from az_os.errors import AzError, NotFoundError
from az_os.vectors import (
    Collection,
    Hit,
    MetaValue,
    VectorStore,
    VectorStoreError,
    vectorstore_path,
    vectorstore_settings,
)

from az_chroma.embedding import MODEL_ID

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

#: documents of a collection, as chromadb's local segment stores them: the
#: rows of its metadata segment in ``embeddings`` (default tenant and database)
_PEEK_SQL = """
SELECT count(*) FROM embeddings e
JOIN segments s ON e.segment_id = s.id
JOIN collections c ON s.collection = c.id
JOIN databases d ON c.database_id = d.id
WHERE c.name = ? AND s.scope = 'METADATA'
  AND d.name = 'default_database' AND d.tenant_id = 'default_tenant'
"""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:300]


def _where(where: Mapping[str, MetaValue] | None) -> Any:
    if not where:
        return None
    items = [{k: v} for k, v in where.items()]
    return items[0] if len(items) == 1 else {"$and": items}


class ChromaCollection(Collection):
    """One chromadb collection behind the :class:`~az_os.vectors.Collection` contract."""

    def __init__(self, store: ChromaVectorStore, raw: Any) -> None:
        self.name = raw.name
        self._store = store
        self._raw = raw

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except AzError:
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds
            raise VectorStoreError(
                f"vector store at {self._store.location}: {what} in collection "
                f"'{self.name}' failed: {_one_line(exc)}"
            ) from exc

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, MetaValue]] | None = None,
    ) -> None:
        if not ids:
            return
        if len(ids) != len(texts) or (metadatas is not None and len(metadatas) != len(ids)):
            raise VectorStoreError("upsert: ids, texts and metadatas differ in length")
        metas: Any = None
        if metadatas is not None and any(metadatas):
            metas = [dict(m) if m else None for m in metadatas]
        if len(set(ids)) != len(ids):
            raise VectorStoreError("upsert: the same id appears twice in one call")

        def replace() -> None:
            # chromadb's upsert merges old and new metadata; the contract
            # replaces the whole document
            self._raw.delete(ids=list(ids))
            self._raw.add(ids=list(ids), documents=list(texts), metadatas=metas)

        self._guard("upsert", replace)

    def delete(
        self, ids: Sequence[str] | None = None, where: Mapping[str, MetaValue] | None = None
    ) -> None:
        if not ids and not where:
            return
        self._guard(
            "delete",
            lambda: self._raw.delete(ids=list(ids) if ids else None, where=_where(where)),
        )

    def query(
        self, text: str, k: int = 5, where: Mapping[str, MetaValue] | None = None
    ) -> list[Hit]:
        if not text.strip() or k <= 0:
            return []
        n = min(k, self.count())
        if n == 0:
            return []
        got = self._guard(
            "query",
            lambda: self._raw.query(
                query_texts=[text],
                n_results=n,
                where=_where(where),
                include=["documents", "metadatas", "distances"],
            ),
        )
        ids = got["ids"][0]
        docs = got["documents"][0]
        metas = got["metadatas"][0]
        dists = got["distances"][0]
        return [
            Hit(id=i, text=d or "", metadata=dict(m or {}), score=1.0 - float(dist))
            for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def get(
        self,
        ids: Sequence[str] | None = None,
        where: Mapping[str, MetaValue] | None = None,
        limit: int | None = None,
    ) -> list[Hit]:
        if ids is not None and not ids:
            return []
        got = self._guard(
            "get",
            lambda: self._raw.get(
                ids=list(ids) if ids else None,
                where=_where(where),
                limit=limit,
                include=["documents", "metadatas"],
            ),
        )
        return [
            Hit(id=i, text=d or "", metadata=dict(m or {}))
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]

    def count(self) -> int:
        return cast(int, self._guard("count", self._raw.count))


class ChromaVectorStore(VectorStore):
    """chromadb ``PersistentClient`` in ``vectorstore.path``.

    Raises :class:`~az_os.vectors.VectorStoreError` when the directory
    cannot be opened (not writable, a corrupt ``chroma.sqlite3``).
    """

    def __init__(self, config: AzConfig) -> None:
        import chromadb
        from chromadb.config import Settings

        from az_chroma.functions import LiteLLMEmbedding, OnnxMiniLM

        settings = vectorstore_settings(config)
        path = vectorstore_path(config)
        self._config = config
        self.location = str(path)
        self._model = settings.embedding_model
        self._ef: Any = (
            LiteLLMEmbedding(settings.embedding_model) if settings.embedding_model else OnnxMiniLM()
        )
        self._collections: dict[str, ChromaCollection] = {}
        self._lock = threading.Lock()
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._client: Any = chromadb.PersistentClient(
                path=str(path),
                settings=Settings(anonymized_telemetry=False, allow_reset=True),
            )
        except Exception as exc:  # noqa: BLE001
            raise VectorStoreError(
                f"vector store at {path} cannot be opened: {_one_line(exc)}"
            ) from exc

    @property
    def embedding_model(self) -> str:
        return self._model or MODEL_ID

    @classmethod
    def peek_count(cls, config: AzConfig, name: str) -> int | None:
        """Documents in collection ``name``, read from ``chroma.sqlite3``
        with the standard library's sqlite3 (read-only, no chromadb import):
        0 when the store or the collection does not exist, ``None`` when the
        file cannot be read or its schema is not the one expected (a newer
        chromadb), so callers fall back to opening the store."""
        import sqlite3

        db = vectorstore_path(config) / "chroma.sqlite3"
        if not db.is_file():
            return 0
        try:
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=2.0)
            try:
                row = conn.execute(_PEEK_SQL, (name,)).fetchone()
            finally:
                conn.close()
        except (sqlite3.Error, OSError, ValueError):
            return None
        return int(row[0]) if row else None

    def _check_name(self, name: str) -> None:
        if not _NAME.match(name) or ".." in name:
            raise VectorStoreError(
                f"collection name '{name}' is not valid: use 3-63 letters, digits, '.', '_' "
                "or '-', starting and ending with a letter or digit"
            )

    def collection(self, name: str, create: bool = True) -> Collection:
        self._check_name(name)
        with self._lock:
            if name in self._collections:
                return self._collections[name]
            try:
                if create:
                    raw = self._client.get_or_create_collection(
                        name=name,
                        embedding_function=self._ef,
                        configuration={"hnsw": {"space": "cosine"}},
                    )
                else:
                    if name not in self._names():
                        raise NotFoundError(f"no collection '{name}' in {self.location}")
                    raw = self._client.get_collection(name=name, embedding_function=self._ef)
            except AzError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise VectorStoreError(
                    f"vector store at {self.location}: collection '{name}' cannot be "
                    f"opened: {_one_line(exc)}"
                ) from exc
            coll = ChromaCollection(self, raw)
            self._collections[name] = coll
            return coll

    def _names(self) -> list[str]:
        return sorted(c if isinstance(c, str) else c.name for c in self._client.list_collections())

    def list_collections(self) -> list[str]:
        try:
            return self._names()
        except Exception as exc:  # noqa: BLE001
            raise VectorStoreError(
                f"vector store at {self.location} cannot be read: {_one_line(exc)}"
            ) from exc

    def drop(self, name: str) -> bool:
        from az_os.vectors import discard_pending

        self._check_name(name)
        discard_pending(self._config, name)  # else the next flush brings it back
        with self._lock:
            self._collections.pop(name, None)
            try:
                if name not in self._names():
                    return False
                self._client.delete_collection(name=name)
            except Exception as exc:  # noqa: BLE001
                raise VectorStoreError(
                    f"vector store at {self.location}: dropping '{name}' failed: {_one_line(exc)}"
                ) from exc
            return True

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return [[float(x) for x in v] for v in self._ef(list(texts))]

    def close(self) -> None:
        with self._lock:
            self._collections.clear()
            client = getattr(self, "_client", None)
            if client is not None:
                try:
                    # releases the files so another process (or a fresh
                    # client in this one) opens a consistent store
                    client.close()
                except Exception:  # noqa: BLE001, S110 - best effort on close
                    pass
                self._client = None


def __getattr__(name: str) -> Any:
    # the embedding functions moved to az_chroma.functions (which imports chromadb)
    if name in ("OnnxMiniLM", "LiteLLMEmbedding"):
        from az_chroma import functions

        return getattr(functions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
