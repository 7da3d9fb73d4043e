"""az-local: the embedded default model (SmolLM2-135M-Instruct on llama-cpp-python).

Nothing heavy is imported here: ``llama_cpp`` is imported the first time a
model is actually loaded (see :mod:`az_local.model`).
"""

__version__ = "0.1.0"
