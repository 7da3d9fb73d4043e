"""The vector-store contract (az_os.vectors), run against every installed backend.

Each test is parametrised over the ``az.vectorstore`` entry points, so a new
backend gets the whole suite by being installed. With none installed (the
kernel alone) only the loader tests run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from az_os.config import load_config
from az_os.errors import ConfigError, NotFoundError, PluginMissingError
from az_os.vectors import (
    Hit,
    VectorStore,
    VectorStoreError,
    close_all,
    get_vectorstore,
    peek_count,
    vectorstore_backends,
    vectorstore_path,
)

BACKENDS = vectorstore_backends()

DOCS = {
    "py-open": "Open a file in Python with open(path) and read its lines.",
    "weather": "Tomorrow will be sunny with light wind from the west.",
    "sql": "A SQL JOIN combines rows of two tables on a matching column.",
    "bake": "Knead the dough, let it rise for an hour, then bake the bread.",
}


def _store(monkeypatch: pytest.MonkeyPatch, backend: str) -> VectorStore:
    monkeypatch.setenv("AZ_VECTORSTORE__BACKEND", backend)
    return get_vectorstore(load_config())


@pytest.fixture(params=BACKENDS or [pytest.param("none", marks=pytest.mark.skip("no backend"))])
def store(request: pytest.FixtureRequest, az_home: Path, monkeypatch: pytest.MonkeyPatch):
    s = _store(monkeypatch, request.param)
    yield s
    close_all()


def _fill(store: VectorStore, name: str = "contract"):
    coll = store.collection(name)
    ids = list(DOCS)
    coll.upsert(
        ids, [DOCS[i] for i in ids], [{"topic": i.split("-")[0], "n": n} for n, i in enumerate(ids)]
    )
    return coll


def test_unknown_backend_is_one_clear_error(az_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AZ_VECTORSTORE__BACKEND", "nosuch")
    with pytest.raises(PluginMissingError, match="no vector-store backend 'nosuch'"):
        get_vectorstore(load_config())


def test_unknown_setting_names_the_key(az_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AZ_VECTORSTORE__BAKEND", "chroma")
    with pytest.raises(ConfigError, match="vectorstore.bakend"):
        get_vectorstore(load_config())


def test_path_defaults_under_the_home(az_home: Path, monkeypatch: pytest.MonkeyPatch):
    assert vectorstore_path(load_config()) == az_home / "vectors"
    monkeypatch.setenv("AZ_VECTORSTORE__PATH", str(az_home / "elsewhere"))
    assert vectorstore_path(load_config()) == az_home / "elsewhere"


def test_upsert_count_and_query_ranks_by_meaning(store: VectorStore):
    coll = _fill(store)
    assert coll.count() == 4
    hits = coll.query("how do I read a text file in python", k=2)
    assert [type(h) for h in hits] == [Hit, Hit]
    assert hits[0].id == "py-open"
    assert hits[0].text == DOCS["py-open"]
    assert hits[0].metadata == {"topic": "py", "n": 0}
    assert hits[0].score > hits[1].score
    assert -1.0 <= hits[1].score <= 1.0
    assert coll.query("bread recipe", k=1)[0].id == "bake"


def test_identical_text_scores_one(store: VectorStore):
    coll = _fill(store)
    top = coll.query(DOCS["sql"], k=1)[0]
    assert top.id == "sql"
    assert top.score == pytest.approx(1.0, abs=1e-3)


def test_where_filters_on_every_key(store: VectorStore):
    coll = _fill(store)
    assert [h.id for h in coll.query("file", k=4, where={"topic": "weather"})] == ["weather"]
    assert coll.query("file", k=4, where={"topic": "weather", "n": 0}) == []
    assert {h.id for h in coll.get(where={"n": 2})} == {"sql"}


def test_upsert_replaces_and_delete_removes(store: VectorStore):
    coll = _fill(store)
    coll.upsert(["weather"], ["Heavy rain and storms expected tonight."], [{"topic": "rain"}])
    assert coll.count() == 4
    (got,) = coll.get(ids=["weather"])
    assert got.text.startswith("Heavy rain") and got.metadata == {"topic": "rain"}
    coll.delete(ids=["weather", "never-there"])
    assert coll.count() == 3
    coll.delete(where={"topic": "bake"})
    assert sorted(h.id for h in coll.get()) == ["py-open", "sql"]
    coll.delete()  # nothing named: nothing removed
    assert coll.count() == 2


def test_empty_inputs_give_empty_results(store: VectorStore):
    coll = store.collection("empty-one")
    assert coll.query("anything", k=3) == []
    coll.upsert([], [])
    _fill(store, "full-one")
    assert store.collection("full-one").query("   ", k=3) == []
    assert store.collection("full-one").query("file", k=0) == []
    assert store.collection("full-one").get(ids=[]) == []


def test_k_larger_than_the_collection(store: VectorStore):
    coll = _fill(store)
    assert len(coll.query("anything", k=50)) == 4


def test_another_language_still_answers(store: VectorStore):
    coll = _fill(store)
    hits = coll.query("Wie öffne ich eine Datei? 如何打开文件", k=2)
    assert len(hits) == 2


def test_collections_list_drop_and_persist(store: VectorStore, monkeypatch: pytest.MonkeyPatch):
    _fill(store, "alpha")
    store.collection("beta")
    assert store.list_collections() == ["alpha", "beta"]
    assert store.drop("beta") is True
    assert store.drop("beta") is False
    backend = load_config().section("vectorstore").get("backend", "chroma")
    close_all()
    again = _store(monkeypatch, backend)
    assert again.list_collections() == ["alpha"]
    assert again.collection("alpha", create=False).count() == 4
    with pytest.raises(NotFoundError):
        again.collection("beta", create=False)


def test_peek_count_agrees_with_count_or_does_not_know(store: VectorStore):
    """``peek_count`` (no store opened) is either None or the true count, at
    every step: before the collection exists, filled, changed, dropped."""
    config = load_config()

    def agrees(name: str, want: int) -> None:
        got = peek_count(config, name)
        assert got is None or got == want, (name, got, want)

    agrees("peeked", 0)
    coll = store.collection("peeked")
    agrees("peeked", 0)
    coll.upsert(["a", "b", "c"], ["one", "two", "three"])
    agrees("peeked", 3)
    coll.upsert(["a"], ["one again"])
    coll.delete(ids=["b"])
    agrees("peeked", 2)
    _fill(store, "other-one")
    agrees("peeked", 2)
    agrees("other-one", 4)
    store.drop("peeked")
    agrees("peeked", 0)


def test_peek_count_of_a_missing_backend_is_unknown(az_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AZ_VECTORSTORE__BACKEND", "nosuch")
    assert peek_count(load_config(), "anything") is None


def test_bad_collection_name_is_one_line(store: VectorStore):
    for bad in ("x", "has space", "-dash-first", "a" * 80):
        with pytest.raises(VectorStoreError, match="collection name"):
            store.collection(bad)


def test_embed_gives_unit_vectors_of_one_dimension(store: VectorStore):
    vecs = store.embed(["one", "two words", ""])
    assert len(vecs) == 3
    assert len({len(v) for v in vecs}) == 1
    for v in vecs:
        assert sum(x * x for x in v) == pytest.approx(1.0, abs=1e-3)
    assert store.embed([]) == []
    assert store.embedding_model


def test_queued_documents_are_inserted_when_the_store_is_opened(
    az_home: Path, monkeypatch: pytest.MonkeyPatch
):
    """``queue_upsert`` writes no store; the next ``get_vectorstore`` inserts
    the queued documents (once), and ``drop`` discards a collection's queue."""
    from az_os.vectors import pending, pending_path, queue_upsert

    if not BACKENDS:
        pytest.skip("no backend")
    monkeypatch.setenv("AZ_VECTORSTORE__BACKEND", BACKENDS[0])
    config = load_config()
    queue_upsert(config, "queued", ["a", "b"], ["first text", "second text"], [{"n": 1}, {"n": 2}])
    queue_upsert(config, "queued", ["a"], ["first text, again"], [{"n": 3}])  # replaces a
    queue_upsert(config, "dropped", ["c"], ["never stored"])
    assert [(h.id, h.text, h.metadata) for h in pending(config, "queued")] == [
        ("b", "second text", {"n": 2}),
        ("a", "first text, again", {"n": 3}),
    ]
    assert peek_count(config, "queued") in (0, None)  # nothing in the store yet
    store = get_vectorstore(config, flush=False)
    assert store.drop("dropped") is False and not pending(config, "dropped")
    store = get_vectorstore(config)
    coll = store.collection("queued")
    assert sorted((h.id, h.text, h.metadata["n"]) for h in coll.get()) == [
        ("a", "first text, again", 3),
        ("b", "second text", 2),
    ]
    assert not pending(config, "queued") and not pending_path(config).exists()
    assert "dropped" not in store.list_collections()
    close_all()


def test_an_unreadable_queue_is_kept_aside_not_lost(az_home: Path, monkeypatch: pytest.MonkeyPatch):
    from az_os.vectors import flush_pending, pending, pending_path, queue_upsert

    if not BACKENDS:
        pytest.skip("no backend")
    monkeypatch.setenv("AZ_VECTORSTORE__BACKEND", BACKENDS[0])
    config = load_config()
    path = pending_path(config)
    path.parent.mkdir(parents=True)
    path.write_text('{"notes": {"a": {"text": "cut off')  # a half-written file
    assert pending(config, "notes") == []
    queue_upsert(config, "notes", ["b"], ["a new document"])
    (kept,) = path.parent.glob("pending.json.unreadable-*")
    assert kept.read_text().startswith('{"notes": {"a"')
    assert [h.id for h in pending(config, "notes")] == ["b"]
    assert flush_pending(config) == 1
    assert [h.id for h in get_vectorstore(config).collection("notes").get()] == ["b"]
    close_all()
