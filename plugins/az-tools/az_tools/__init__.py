"""az-tools: az's built-in tools (filesystem, shell, system), confined to the task's workspace.

The plugin module (:mod:`az_tools.plugin`) registers them through
``az_register_tools``; the tool modules are imported only then.
"""

__version__ = "0.1.0"
