"""az-mcp: the Model Context Protocol bridge for az.

* Client: servers declared under ``[mcp.servers.NAME]`` in config.toml lend
  their tools to az as ``NAME.TOOL`` (see :mod:`az_mcp.client`).
* Server: ``az mcp serve`` exposes every registered az tool over MCP
  (see :mod:`az_mcp.server`).

Importing this package is cheap: the ``mcp`` SDK is imported only where a
server is started or served.
"""

__version__ = "0.1.0"
