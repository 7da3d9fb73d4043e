"""The commands this plugin adds, as ``az --help`` lists them.

az imports this module (and nothing else of the plugin) to build its command
list, so it imports only ``az_os.commands.Command``. Each entry: the command
name under ``az`` ("{{ cookiecutter.plugin_name }}", or "task NAME" for a
subcommand of a group), where it is defined ("module:object": a typer app, a
click command or a function), and its one-line help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "{{ cookiecutter.plugin_name }}",
        "{{ cookiecutter.package }}.cli:app",
        "{{ cookiecutter.description }}.",
    ),
)
