"""The detail view offers undo only when some plugin provides ``az undo``:
one that declares it (az-git, ``az.commands``) or an older plugin that adds
it through ``az_register_commands``."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from az_os import hookimpl
from az_tui.data import Source
from conftest import only_plugins


def test_no_checkpoint_plugin_no_undo(home: Path) -> None:
    assert Source().can_undo() is False


def test_a_declared_undo_command_is_found(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not any(ep.name == "git" for ep in entry_points(group="az.commands")):
        pytest.skip("az-git is not installed")
    only_plugins(monkeypatch, "tools,sqlite,git")
    assert Source().can_undo() is True


def test_an_older_plugin_adding_undo_through_the_hook_is_found(home: Path) -> None:
    from az_os.plugins import get_host

    class OldUndo:
        @hookimpl
        def az_register_commands(self, app: Any) -> None:
            @app.command("undo")
            def undo() -> None:
                """Take back the last change."""

    host = get_host()
    host.register(OldUndo(), "old-undo")
    assert Source(host=host).can_undo() is True
