"""az's default vector-store backend: chromadb with an offline embedding model.

The backend class is :class:`az_chroma.store.ChromaVectorStore` (entry point
``chroma`` in the ``az.vectorstore`` group); the embedding model lives in
:mod:`az_chroma.embedding`; :class:`ChromaDBRepository` is the design
brief's Python API over the vector-store contract
(``from az_os.data.interfaces import ChromaDBRepository``). Importing this
package imports neither chromadb nor onnxruntime.
"""

from az_chroma.repository import ChromaDBRepository

__all__ = ["ChromaDBRepository"]
