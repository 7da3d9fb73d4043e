"""Every ``python`` block of docs/python-api.md runs, on the scripted model.

Each block runs as a script (fresh namespace, its own ``asyncio.run``) in an
isolated az home with the plugins it needs and the scripted test model
(:mod:`az_os.scripted`) registered on the process-wide plugin host and set
as ``models.default``. A block whose plugin is not installed is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from az_os import scripted

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def _blocks() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", m.group(2), re.S)):
            out.append((f"{m.group(1)}-{i}", code))
    return out


BLOCKS = _blocks()

#: The scripted model's answers for a class whose example calls tools.
SCRIPTS = {
    "LiteLLMClient": [{"answer": "4"}, {"answer": "hello"}, {"answer": "hello again"}],
    "ReActEngine": [
        {"tool": "filesystem.list", "arguments": {"path": "."}, "thought": "look first"},
        {"answer": "0"},
        {"answer": "hello"},
    ],
}


def test_every_available_class_has_an_example() -> None:
    names = {b.split("-")[0] for b, _ in BLOCKS}
    assert names >= {
        "ConfigManager",
        "TaskRepository",
        "ExecutionEngine",
        "CostTracker",
        "StateManager",
        "RoutingEngine",
        "MCPClient",
        "ReActEngine",
        "LiteLLMClient",
        "SQLiteRepository",
        "ChromaDBRepository",
        "GitRepository",
    }


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[b for b, _ in BLOCKS])
def test_example_runs(name, code, az_home, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    needs = {
        "CostTracker": "az_cost",
        "StateManager": "az_git",
        "RoutingEngine": "az_router",
        "MCPClient": "az_mcp",
        "LiteLLMClient": "az_litellm",
        "SQLiteRepository": "az_sqlite",
        "ChromaDBRepository": "az_chroma",
        "GitRepository": "az_git",
    }
    cls = name.split("-")[0]
    if cls in needs:
        pytest.importorskip(needs[cls])
    if cls in {
        "TaskRepository",
        "ExecutionEngine",
        "CostTracker",
        "StateManager",
        "ReActEngine",
        "SQLiteRepository",
        "GitRepository",
    }:
        from conftest import has_storage

        if not has_storage():
            pytest.skip("needs a storage backend (az-sqlite)")
    from az_os.config import set_value
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "tools,sqlite,cost,git,mcp")
    monkeypatch.chdir(tmp_path)
    set_value("models.default", "scripted/cheap")
    get_host().register(scripted, "scripted")
    scripted.set_script(SCRIPTS.get(cls, [{"answer": "4"}, {"answer": "hello"}]))
    exec(compile(code, f"{DOC}:{name}", "exec"), {"__name__": "__main__"})
