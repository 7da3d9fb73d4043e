"""Retrieval over the workspace: chunking, the index, hybrid search, az rag."""
