"""The design brief's ``ChromaDBRepository``: documents in az's vector store.

A thin async layer over the kernel's vector-store contract
(:mod:`az_os.vectors`): the configured backend (chromadb by default, with
its offline embedding model), the same collections az-rag and az-memory
use. Every method runs the backend in a worker thread. Imports neither
chromadb nor onnxruntime until a method is called.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.vectors import Collection, VectorStore

__all__ = ["ChromaDBRepository"]


class ChromaDBRepository:
    """Add, search, read and delete documents in named collections.

    A document is ``{"text": str, "id": str (optional: a new UUID),
    "metadata": {key: str | int | float | bool} (optional)}`` (``content``
    is accepted for ``text``; a plain string is a document with only its
    text). Collection names are 3-63 characters of letters, digits and
    ``._-``.

    ``config``: the :class:`~az_os.config.AzConfig` whose ``[vectorstore]``
    section chooses the backend and directory (default: the process's).

    Errors: :class:`~az_os.errors.UsageError` for a document without text or
    a ``where`` that is not a flat object; :class:`~az_os.vectors.VectorStoreError`
    when the store cannot be opened, read or written (a bad collection
    name); :class:`~az_os.errors.PluginMissingError` when the configured
    backend is not installed.
    """

    def __init__(self, *, config: AzConfig | None = None) -> None:
        self._config = config

    @property
    def store(self) -> VectorStore:
        """The configured vector store (opened once per process)."""
        from az_os.vectors import get_vectorstore

        return get_vectorstore(self._config)

    async def add_documents(
        self,
        collection: str,
        documents: list[dict[str, Any]],
        metadatas: list[dict[str, Any]] | None = None,
    ) -> list[str]:
        """Embed and store ``documents`` in ``collection`` (created when
        missing), replacing documents with the same id. ``metadatas``, when
        given, has one dict per document, merged over the document's own
        ``metadata``. Returns the ids, in order."""
        import asyncio

        from az_os.errors import UsageError

        if metadatas is not None and len(metadatas) != len(documents):
            raise UsageError(
                f"{len(metadatas)} metadatas for {len(documents)} documents: give one per document"
            )
        ids, texts, metas = [], [], []
        for i, doc in enumerate(documents):
            if isinstance(doc, str):
                doc = {"text": doc}
            text = doc.get("text", doc.get("content")) if isinstance(doc, Mapping) else None
            if not isinstance(text, str) or not text.strip():
                raise UsageError(f"document {i} has no text (give 'text' or 'content')")
            ids.append(str(doc.get("id") or uuid.uuid4()))
            texts.append(text)
            meta = {**(doc.get("metadata") or {}), **((metadatas or [{}] * len(documents))[i])}
            metas.append(meta)

        def run() -> None:
            self.store.collection(collection).upsert(ids, texts, metas)

        await asyncio.to_thread(run)
        return ids

    async def search(
        self,
        collection: str,
        query: str,
        n_results: int = 5,
        where: str | dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``n_results`` documents closest in meaning to ``query``, best
        first: ``[{"id", "text", "metadata", "score"}]``, ``score`` the cosine
        similarity (1.0 identical, about 0 unrelated). ``where`` keeps the
        documents whose metadata equals every ``{key: value}`` given, as a
        dict or as a JSON object string (the brief types it as a string).
        A collection that does not exist gives ``[]``."""
        import asyncio

        from az_os.errors import NotFoundError

        filters = _where(where)

        def run() -> list[dict[str, Any]]:
            try:
                coll = self.store.collection(collection, create=False)
            except NotFoundError:
                return []
            return [hit.to_dict() for hit in coll.query(query, k=n_results, where=filters)]

        return await asyncio.to_thread(run)

    async def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        """The document ``{"id", "text", "metadata"}``, or None when it (or
        the collection) does not exist."""
        import asyncio

        def run() -> dict[str, Any] | None:
            coll = self._existing(collection)
            hits = coll.get(ids=[doc_id]) if coll is not None else []
            if not hits:
                return None
            out = hits[0].to_dict()
            out.pop("score", None)
            return out

        return await asyncio.to_thread(run)

    async def delete_document(self, collection: str, doc_id: str) -> bool:
        """Delete one document; False when it (or the collection) did not exist."""
        import asyncio

        def run() -> bool:
            coll = self._existing(collection)
            if coll is None or not coll.get(ids=[doc_id]):
                return False
            coll.delete(ids=[doc_id])
            return True

        return await asyncio.to_thread(run)

    def _existing(self, collection: str) -> Collection | None:
        from az_os.errors import NotFoundError

        try:
            return self.store.collection(collection, create=False)
        except NotFoundError:
            return None


def _where(where: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """A flat ``{key: value}`` filter from a dict or a JSON object string."""
    from az_os.errors import UsageError

    if where is None or where == "":
        return None
    if isinstance(where, str):
        try:
            where = json.loads(where)
        except ValueError:
            raise UsageError(
                f'where: expected a JSON object such as \'{{"source": "README.md"}}\', got {where!r}'
            ) from None
    if not isinstance(where, dict) or any(
        isinstance(v, (dict, list)) or v is None for v in where.values()
    ):
        raise UsageError("where: expected a flat object of key: value (str, number or bool)")
    return where
