"""az-litellm: az's model provider for every hosted LLM, through LiteLLM.

See :mod:`az_litellm.plugin` (hooks), :mod:`az_litellm.model` (the model
class, errors, retries, usage) and :mod:`az_litellm.catalog` (the built-in
catalogue and LiteLLM's bundled price map); :class:`LiteLLMClient`
(:mod:`az_litellm.client`) is the design brief's Python API for one model
call (``from az_os.ai.interfaces import LiteLLMClient``).
"""

from az_litellm.client import LiteLLMClient

__all__ = ["LiteLLMClient"]
__version__ = "0.1.0"
