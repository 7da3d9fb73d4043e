"""az-git's commands as ``az --help`` lists them (``az.commands`` entry point).

This module imports nothing but the kernel's declaration type, so listing
the commands costs no import of the plugin; each command's module is
imported when the command runs or shows its own help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "state",
        "az_git.cli:state_app",
        "Checkpoints of a workspace: az takes one before the first file change of every task turn and when a task ends; save your own, compare, restore.",
    ),
    Command(
        "undo",
        "az_git.cli:undo",
        "Take back a task's last changing turns: files and conversation together.",
    ),
)
