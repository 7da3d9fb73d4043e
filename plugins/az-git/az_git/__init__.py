"""az-git: checkpoints and undo for az workspaces (``az state``, ``az undo``).

``from az_git import StateManager`` gives the design brief's async API; it is
imported on first use, so loading the plugin's hooks stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Checkpoints", "StateManager"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from az_git import manager

        return getattr(manager, name)
    raise AttributeError(f"module 'az_git' has no attribute {name!r}")
