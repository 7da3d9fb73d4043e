"""az-postgres's commands as ``az --help`` lists them (``az.commands`` entry point).

This module imports nothing but the kernel's declaration type, so listing
the commands costs no import of the plugin; each command's module is
imported when the command runs or shows its own help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "db copy",
        "az_postgres.plugin:db_copy",
        "Copy the whole history (tasks, turns, logs, costs, state, tool usage) from one storage backend to another, then check the row counts.",
        group_help="Manage az's database (storage.backend): copy a history between backends.",
    ),
)
