"""az-cost's commands as ``az --help`` lists them (``az.commands`` entry point).

This module imports nothing but the kernel's declaration type, so listing
the commands costs no import of the plugin; each command's module is
imported when the command runs or shows its own help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "cost",
        "az_cost.cli:cost_app",
        "What model calls cost (USD), and a hard budget that refuses a call before it could cross the limit.",
    ),
)
