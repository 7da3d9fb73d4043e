"""az-git: checkpoints and undo for az workspaces (``az state``, ``az undo``).

``from az_git import StateManager`` gives the design brief's async API over
the checkpoints, ``from az_git import GitRepository`` its API for a
workspace's own git repository (:mod:`az_git.repository`); both are imported
on first use, so loading the plugin's hooks stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Checkpoints", "GitRepository", "StateManager"]

_HOMES = {
    "Checkpoints": "az_git.manager",
    "StateManager": "az_git.manager",
    "GitRepository": "az_git.repository",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'az_git' has no attribute {name!r}")
