"""az-rag's commands as ``az --help`` lists them (``az.commands`` entry point).

This module imports nothing but the kernel's declaration type, so listing
the commands costs no import of the plugin; each command's module is
imported when the command runs or shows its own help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "rag",
        "az_rag.cli:rag_app",
        "Retrieval over your code and docs: index a directory, then search it by meaning and keywords together.",
    ),
)
