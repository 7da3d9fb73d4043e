"""az-mcp's commands as ``az --help`` lists them (``az.commands`` entry point).

This module imports nothing but the kernel's declaration type, so listing
the commands costs no import of the plugin; each command's module is
imported when the command runs or shows its own help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "mcp",
        "az_mcp.commands:mcp_app",
        "Use tools from MCP servers, and serve az's tools over MCP.",
    ),
)
