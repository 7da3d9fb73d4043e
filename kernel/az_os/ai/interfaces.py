"""The design brief's AI interfaces (``az_os.ai.interfaces``).

Every name is imported on first use from the module that owns it; a name
whose plugin is not installed (or does not provide it yet) raises
:class:`az_os.api.MissingPluginError` (an ``ImportError``) naming the
distribution to install. See ``docs/python-api.md``.

=================  =====================================  ==============
name               from                                   distribution
=================  =====================================  ==============
MCPClient          az_mcp.client                          az-mcp
RoutingEngine      az_router.engine                       az-router
LiteLLMClient      az_litellm (package export)            az-litellm
ReActEngine        az_os.react                            az-os (kernel)
=================  =====================================  ==============
"""

from __future__ import annotations

from az_os.api import Export, lazy_module

EXPORTS = {
    "MCPClient": Export("az_mcp.client", "MCPClient", "az-mcp"),
    "RoutingEngine": Export("az_router.engine", "RoutingEngine", "az-router"),
    "LiteLLMClient": Export("az_litellm", "LiteLLMClient", "az-litellm"),
    "ReActEngine": Export("az_os.react", "ReActEngine"),
}

__getattr__, __dir__ = lazy_module(__name__, EXPORTS, globals())
