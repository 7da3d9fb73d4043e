"""az-litellm: az's model provider for every hosted LLM, through LiteLLM.

See :mod:`az_litellm.plugin` (hooks), :mod:`az_litellm.model` (the model
class, errors, retries, usage) and :mod:`az_litellm.catalog` (the built-in
catalogue and LiteLLM's bundled price map).
"""

__version__ = "0.1.0"
