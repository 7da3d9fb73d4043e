"""ChromaDBRepository (the brief's Python API) over the vector-store
contract, on the real chromadb backend and its offline embedding model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from az_chroma import ChromaDBRepository
from az_os.errors import UsageError
from az_os.vectors import VectorStoreError, close_all


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def repo(az_home: Path) -> Any:
    yield ChromaDBRepository()
    close_all()


def test_add_search_get_delete(repo):
    ids = run(
        repo.add_documents(
            "notes",
            [
                {
                    "id": "files",
                    "text": "How to open and read a file in Python",
                    "metadata": {"source": "howto.md"},
                },  # fmt: skip
                {"content": "The weather is sunny and warm today"},
                "Reading text files line by line",
            ],
            metadatas=[{"lang": "en"}, {"source": "weather.md"}, {"source": "howto.md"}],
        )
    )
    assert ids[0] == "files" and len(set(ids)) == 3
    hits = run(repo.search("notes", "read a file", n_results=2))
    assert {h["id"] for h in hits} == {"files", ids[2]}
    assert hits[0]["score"] >= hits[1]["score"] > 0
    assert hits[0]["metadata"]["source"] == "howto.md"
    only = run(repo.search("notes", "read a file", where='{"source": "weather.md"}'))
    assert [h["id"] for h in only] == [ids[1]]
    assert run(repo.search("notes", "x", where={"lang": "en"}))[0]["id"] == "files"
    doc = run(repo.get_document("notes", "files"))
    assert doc == {
        "id": "files",
        "text": "How to open and read a file in Python",
        "metadata": {"source": "howto.md", "lang": "en"},
    }
    assert run(repo.delete_document("notes", "files")) is True
    assert run(repo.delete_document("notes", "files")) is False
    assert run(repo.get_document("notes", "files")) is None


def test_missing_collection_and_bad_input(repo):
    assert run(repo.search("nothing-here", "x")) == []
    assert run(repo.get_document("nothing-here", "a")) is None
    assert run(repo.delete_document("nothing-here", "a")) is False
    with pytest.raises(UsageError, match="document 0 has no text"):
        run(repo.add_documents("notes", [{"id": "x"}]))
    with pytest.raises(UsageError, match="one per document"):
        run(repo.add_documents("notes", ["a", "b"], metadatas=[{}]))
    with pytest.raises(UsageError, match="JSON object"):
        run(repo.search("notes", "x", where="source = 'a'"))
    with pytest.raises(VectorStoreError):
        run(repo.add_documents("x", ["bad collection name"]))
