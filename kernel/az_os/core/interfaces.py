"""The design brief's core interfaces (``az_os.core.interfaces``).

Every name is imported on first use from the module that owns it; a name
whose plugin is not installed raises :class:`az_os.api.MissingPluginError`
(an ``ImportError``) naming the distribution to install. See
``docs/python-api.md``.

=================  =====================================  ==============
name               from                                   distribution
=================  =====================================  ==============
Task               az_os.types                            az-os (kernel)
TaskStatus         az_os.types                            az-os (kernel)
TaskPriority       az_os.types                            az-os (kernel)
TaskRepository     az_os.storage                          az-os (kernel)
ExecutionEngine    az_os.engine                           az-os (kernel)
ConfigManager      az_os.config_manager                   az-os (kernel)
CostTracker        az_cost.tracker                        az-cost
StateManager       az_git.manager                         az-git
=================  =====================================  ==============
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from az_os.api import Export, lazy_module

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config_manager import ConfigManager as ConfigManager
    from az_os.engine import ExecutionEngine as ExecutionEngine
    from az_os.storage import TaskRepository as TaskRepository
    from az_os.types import Task as Task
    from az_os.types import TaskPriority as TaskPriority
    from az_os.types import TaskStatus as TaskStatus

EXPORTS = {
    "Task": Export("az_os.types", "Task"),
    "TaskStatus": Export("az_os.types", "TaskStatus"),
    "TaskPriority": Export("az_os.types", "TaskPriority"),
    "TaskRepository": Export("az_os.storage", "TaskRepository"),
    "ExecutionEngine": Export("az_os.engine", "ExecutionEngine"),
    "ConfigManager": Export("az_os.config_manager", "ConfigManager"),
    "CostTracker": Export("az_cost.tracker", "CostTracker", "az-cost"),
    "StateManager": Export("az_git.manager", "StateManager", "az-git"),
}

__getattr__, __dir__ = lazy_module(__name__, EXPORTS, globals())
