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
ReActEngine        az_os.engine                           az-os (kernel)
=================  =====================================  ==============

``LiteLLMClient`` and ``ReActEngine`` are not implemented yet: the entries
say where they will be found (the plugin exports ``LiteLLMClient`` from its
package; the kernel defines ``ReActEngine`` beside ``ExecutionEngine``).
"""

from __future__ import annotations

from az_os.api import Export, lazy_module

EXPORTS = {
    "MCPClient": Export("az_mcp.client", "MCPClient", "az-mcp"),
    "RoutingEngine": Export("az_router.engine", "RoutingEngine", "az-router"),
    "LiteLLMClient": Export("az_litellm", "LiteLLMClient", "az-litellm"),
    "ReActEngine": Export("az_os.engine", "ReActEngine"),
}

__getattr__, __dir__ = lazy_module(__name__, EXPORTS, globals())
