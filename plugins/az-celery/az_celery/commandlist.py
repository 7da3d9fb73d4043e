"""az-celery's commands as ``az --help`` lists them (``az.commands`` entry point).

This module imports nothing but the kernel's declaration type, so listing
the commands costs no import of the plugin; each command's module is
imported when the command runs or shows its own help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "worker",
        "az_celery.plugin:worker_app",
        "Run az tasks from the queue: 'az worker start' on any host that shares the storage backend (storage.dsn) and the broker (celery.broker_url).",
    ),
    Command(
        "task submit",
        "az_celery.plugin:task_submit",
        "Queue a task for the workers ('az worker start') and print its id.",
    ),
)
