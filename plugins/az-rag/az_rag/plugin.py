"""az-rag's hook implementations (this module imports only the kernel).

* ``az_register_tools`` - ``semantic.search`` (query, collection, n_results);
* ``az_context`` - the task's workspace is indexed (bounded time, the rest in
  the background) and the best snippets, each headed ``path:start-end``, go
  into the first prompt under ``rag.context_tokens``.

``az rag`` (index, search, status, drop) is declared in :mod:`az_rag.commandlist`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from az_os import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import Task


@hookimpl
def az_register_tools(register: Callable[..., None]) -> None:
    """``semantic.search``: hybrid search over the workspace's index."""
    from az_rag.tool import SemanticSearchTool

    register(SemanticSearchTool())


@hookimpl
def az_context(task: Task, query: str) -> list[str] | None:
    """Snippets of the task's workspace relevant to its description."""
    if not task.workspace:
        return None
    from az_rag.auto import context_snippets

    return context_snippets(task.workspace, query) or None
