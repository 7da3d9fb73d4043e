"""``semantic.search``: the design brief's tool over the workspace index.

Arguments (brief, ``az-os-api-design.md``): ``query`` (string, required),
``collection`` (string, optional: default the task workspace's own),
``n_results`` (number, default 5). Result: a list of
``{"path", "lines", "score", "symbol", "snippet"}``, best first; ``lines``
is ``"start-end"`` (1-based), ``score`` the fused reciprocal-rank score.
"""

from __future__ import annotations

import time
from typing import Any

from az_os.errors import AzError
from az_os.tools import Tool, ToolContext
from az_os.types import ToolResult, ToolSpec

#: characters of each snippet returned to the model
SNIPPET_CHARS = 800


class SemanticSearchTool(Tool):
    spec = ToolSpec(
        name="semantic.search",
        description=(
            "Semantic document search over the workspace's indexed code and docs (meaning and "
            "keywords together). Returns the best chunks as path, line range, score and "
            "snippet; read the file with filesystem.read for more."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Search query"},
                "collection": {
                    "type": "string",
                    "description": "Collection name (default: this workspace's index)",
                },
                "n_results": {
                    "type": "number",
                    "description": "Number of results",
                    "default": 5,
                },
            },
            "required": ["query"],
        },
        category="ai",
        read_only=True,
    )

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        from az_rag.auto import ensure_indexed
        from az_rag.index import RagIndex, list_collections

        started = time.monotonic()
        query = str(arguments.get("query", ""))
        try:
            n = max(1, min(int(arguments.get("n_results") or 5), 50))
        except (TypeError, ValueError):
            n = 5
        name = arguments.get("collection")
        try:
            if name:
                idx: RagIndex | None = RagIndex(ctx.config, ctx.workspace, str(name))
                if idx is not None and not idx.exists():
                    known = ", ".join(list_collections(ctx.config)) or "none"
                    return ToolResult(
                        success=False,
                        error=f"no collection '{name}' (indexed: {known})",
                    )
            else:
                idx = ensure_indexed(ctx.config, ctx.workspace)
                if idx is None:
                    return ToolResult(
                        success=False,
                        error="this workspace is not indexed (az rag index indexes it)",
                    )
            results = idx.search(query, k=n) if idx is not None else []
        except AzError as exc:
            return ToolResult(success=False, error=str(exc))
        rows = [
            {
                "path": r.path,
                "lines": f"{r.start}-{r.end}",
                "score": r.score,
                "symbol": r.symbol,
                "snippet": r.snippet[:SNIPPET_CHARS],
            }
            for r in results
        ]
        return ToolResult(
            success=True, result=rows, duration_ms=(time.monotonic() - started) * 1000
        )
