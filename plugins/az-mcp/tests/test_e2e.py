"""End to end: `az task run` on the embedded model, offered only the time
server's tools, calls one of them through the bridge."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from mcp_helpers import add_server, run_az, time_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("az_os.engine") is None,
        reason="the engine (az_os.engine) is not there yet",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("az_local") is None,
        reason="needs the embedded model: pip install az-local",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("az_sqlite") is None,
        reason="needs a storage backend: pip install az-sqlite",
    ),
]


def test_task_run_calls_the_time_servers_tool(az_home: Path, tmp_path: Path) -> None:
    add_server("time", time_server())
    # as 'az mcp add' does: list the server's tools once, waiting for it to start
    assert run_az("mcp", "tools", "time").returncode == 0
    r = run_az(
        "task",
        "run",
        "What is the current time in Tokyo? Use the time tool.",
        "--tools",
        "time.*",
        "--approve",
        "auto",
        "--max-turns",
        "3",
        # plumbing on the small bundled model, also when a model pack is installed
        "--model",
        "smollm2",
        "--workspace",
        str(tmp_path),
        "--json",
        timeout=600,
    )
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "local/smollm2-135m-instruct"
    assert out["tool_calls"] >= 1, out

    from az_os.drivers import get_storage

    storage = get_storage()
    usage = storage.list_tool_usage(out["id"])
    assert usage and all(u.tool_name.startswith("time.") for u in usage), usage
    results = [res for turn in storage.list_turns(out["id"]) for res in turn.tool_results]
    # answers came from the MCP server (a result, or the server's own error message)
    assert any(res.metadata.get("server") == "time" for res in results), results
