"""az-tui: the ``az dashboard`` Textual app (tasks, task detail, run, cost, health)."""

__version__ = "0.1.0"
