"""az's default vector-store backend: chromadb with an offline embedding model.

The backend class is :class:`az_chroma.store.ChromaVectorStore` (entry point
``chroma`` in the ``az.vectorstore`` group); the embedding model lives in
:mod:`az_chroma.embedding`. Importing this package imports neither chromadb
nor onnxruntime.
"""
