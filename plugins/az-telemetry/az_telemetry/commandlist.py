"""az-telemetry's commands as ``az --help`` lists them (``az.commands`` entry point).

This module imports nothing but the kernel's declaration type, so listing
the commands costs no import of the plugin; each command's module is
imported when the command runs or shows its own help.
"""

from az_os.commands import Command

COMMANDS = (
    Command(
        "health",
        "az_telemetry.cli:health",
        "Run every health check (system, storage, model providers and any plugin's own) and print one line per check and the overall status.",
    ),
    Command(
        "metrics",
        "az_telemetry.cli:metrics",
        "Print every metric in the Prometheus text format: system (CPU, memory, disk, load), tasks by status from storage, and what plugins contribute (az_metrics hook).",
    ),
)
