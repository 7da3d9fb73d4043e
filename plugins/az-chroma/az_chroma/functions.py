"""The chromadb embedding functions (this module imports chromadb).

Registered with chromadb under ``az-onnx-minilm`` and ``az-litellm``, so a
collection records which model built it and chromadb refuses to mix them.
:mod:`az_chroma.store` imports this module only when it opens a store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from az_chroma.embedding import MODEL_ID, LiteLLMEmbedder, local_embedder


@register_embedding_function
class OnnxMiniLM(EmbeddingFunction[Documents]):
    """chromadb embedding function over :func:`az_chroma.embedding.local_embedder`
    (the model is loaded once per process, however often chromadb builds this)."""

    def __init__(self) -> None:
        self._embed: Callable[[Sequence[str]], list[list[float]]] | None = None

    def __call__(self, input: Documents) -> Embeddings:
        if self._embed is None:
            self._embed = local_embedder()
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self._embed(list(input))]

    @staticmethod
    def name() -> str:
        return "az-onnx-minilm"

    def default_space(self) -> Any:
        return "cosine"

    def supported_spaces(self) -> Any:
        return ["cosine"]

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OnnxMiniLM:
        return OnnxMiniLM()

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_ID}


@register_embedding_function
class LiteLLMEmbedding(EmbeddingFunction[Documents]):
    """chromadb embedding function over a LiteLLM embedding model."""

    def __init__(self, model: str, api_base: str | None = None) -> None:
        self.embedder = LiteLLMEmbedder(model, api_base)

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self.embedder(list(input))]

    @staticmethod
    def name() -> str:
        return "az-litellm"

    def default_space(self) -> Any:
        return "cosine"

    def supported_spaces(self) -> Any:
        return ["cosine"]

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> LiteLLMEmbedding:
        return LiteLLMEmbedding(str(config.get("model", "")))

    def get_config(self) -> dict[str, Any]:
        return {"model": self.embedder.model_id}
