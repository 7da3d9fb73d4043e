"""The design brief's data interfaces (``az_os.data.interfaces``).

Every name is imported on first use from the plugin that owns it; a name
whose plugin is not installed (or does not provide it yet) raises
:class:`az_os.api.MissingPluginError` (an ``ImportError``) naming the
distribution to install. See ``docs/python-api.md``.

==================  ============================  ==============
name                from                          distribution
==================  ============================  ==============
SQLiteRepository    az_sqlite (package export)    az-sqlite
ChromaDBRepository  az_chroma (package export)    az-chroma
GitRepository       az_git (package export)       az-git
==================  ============================  ==============

Each plugin exports its class from its package (imported lazily, so
loading the plugin's hooks stays light).
"""

from __future__ import annotations

from az_os.api import Export, lazy_module

EXPORTS = {
    "SQLiteRepository": Export("az_sqlite", "SQLiteRepository", "az-sqlite"),
    "ChromaDBRepository": Export("az_chroma", "ChromaDBRepository", "az-chroma"),
    "GitRepository": Export("az_git", "GitRepository", "az-git"),
}

__getattr__, __dir__ = lazy_module(__name__, EXPORTS, globals())
