"""az-server: az's headless HTTP API (``az serve``) on FastAPI and uvicorn."""

__version__ = "0.1.0"
