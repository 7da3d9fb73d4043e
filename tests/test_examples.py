"""examples/embed_az.py runs against the real plugins on the scripted model:
the index finds the note, the task appends to it with streamed events, its
cost is read back, and restoring the snapshot undoes the task's change."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from az_os import scripted

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "embed_az.py"


def test_embed_example_uses_only_the_brief_api() -> None:
    imports = [
        line
        for line in EXAMPLE.read_text().splitlines()
        if line.startswith(("import ", "from ")) and "az" in line
    ]
    assert imports == [
        "from az_os.core.interfaces import (",
        "from az_os.data.interfaces import ChromaDBRepository",
    ]


@pytest.mark.slow
def test_embed_example_runs(az_home, monkeypatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    for module in ("az_chroma", "az_git", "az_cost", "az_tools", "az_sqlite"):
        pytest.importorskip(module)
    from az_os.config import set_value
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "tools,sqlite,cost,git")
    set_value("models.default", "scripted/cheap")
    get_host().register(scripted, "scripted")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    scripted.set_script(
        [
            {
                "tool": "filesystem.write",
                "arguments": {"path": "notes.txt", "content": "done: tests\n", "append": True},
            },
            {"answer": "Appended the line."},
        ]
    )
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(workspace)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert exit_.value.code == 0, out
    assert "index: best match notes.txt" in out
    assert "  -> filesystem.write: append 12 bytes to 'notes.txt'" in out
    assert "task completed: Appended the line." in out
    cost = float(out.split("cost: ")[1].split(" USD")[0])
    assert cost > 0
    assert "after the task: done: tests" in out
    assert "restored snapshot: {'stage': 'before'}" in out
    assert "after restoring: Release checklist" in out
    assert (workspace / "notes.txt").read_text().endswith("tag the version.\n")
