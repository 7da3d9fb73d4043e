"""``az dashboard`` as a user runs it: the command, its errors, its imports,
and a smoke test in a real terminal under tmux (send keys, read the screen)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import seed


def test_help_and_bad_options(az: Any) -> None:
    r = az("dashboard", "--help")
    assert r.returncode == 0 and "--theme" in r.stdout and "--metrics" in r.stdout, r
    r = az("dashboard", "--theme", "pink")
    assert r.returncode == 2 and "--theme must be dark or light" in r.stderr, r
    r = az("dashboard", "--metrics", "everything")
    assert r.returncode == 2 and "--metrics must be" in r.stderr, r
    # no backend: one line before the screen is taken over, not a traceback in the TUI
    r = az("dashboard", env={"AZ_STORAGE__BACKEND": "nosuch"})
    assert r.returncode != 0 and "no storage backend 'nosuch'" in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1


def test_az_help_and_the_hook_module_do_not_import_textual(az_home: Path) -> None:
    code = "import az_tui.plugin, az_tui.cli, sys; print('textual' in sys.modules, 'psutil' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "az_os.cli", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "AZ_HOME": str(az_home)},
    )
    assert r.returncode == 0 and "dashboard" in r.stdout
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("textual", "textual_plotext", "psutil")}


class Tmux:
    """A private tmux server (its own socket) running one command."""

    def __init__(self, socket: str, width: int, height: int) -> None:
        self.socket, self.width, self.height = socket, width, height

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "az")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", "az", key)
            time.sleep(0.3)  # a person's pace; also clear of tmux's escape-time

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"'{text}' not on screen after {timeout} s:\n{screen}")
            time.sleep(0.2)


@pytest.fixture
def tmux(az_home: Path) -> Iterator[Callable[..., Tmux]]:
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed (.ci/run installs it)")
    sessions: list[Tmux] = []

    def start(command: str, width: int = 80, height: int = 24) -> Tmux:
        t = Tmux(f"az-tui-{uuid.uuid4().hex[:8]}", width, height)
        env = f"AZ_HOME={shlex.quote(str(az_home))} AZ_LOAD_PLUGINS=sqlite,tui TERM=xterm-256color"
        t.run(
            "-f", "/dev/null", "new-session", "-d", "-s", "az",
            "-x", str(width), "-y", str(height), f"env -u COLUMNS -u LINES {env} {command}",
        )  # fmt: skip
        t.run("set-option", "-t", "az", "escape-time", "0")
        t.run("resize-window", "-t", "az", "-x", str(width), "-y", str(height))
        sessions.append(t)
        return t

    yield start
    for t in sessions:
        t.run("kill-server")


@pytest.mark.slow
def test_smoke_under_tmux(tmux: Any, az_home: Path) -> None:
    from az_os import drivers
    from az_os.drivers import get_storage

    monkey = os.environ.get("AZ_LOAD_PLUGINS")
    os.environ["AZ_LOAD_PLUGINS"] = "tools,sqlite"
    try:
        tasks = seed(get_storage(), 30)
    finally:
        drivers.close_all()
        if monkey is None:
            os.environ.pop("AZ_LOAD_PLUGINS", None)
        else:
            os.environ["AZ_LOAD_PLUGINS"] = monkey
    az_bin = Path(sys.executable).with_name("az")
    t = tmux(f"{shlex.quote(str(az_bin))} dashboard --theme light", width=120, height=30)
    t.wait_for(tasks[-1].id[:8], timeout=60)  # the table
    t.wait_for("30 of 30")
    t.wait_for("Quit")  # the footer
    t.keys("Enter")
    screen = t.wait_for("There are 2 files.")
    assert "turn 1" in screen and "filesystem.list" in screen
    t.keys("Escape")
    t.wait_for("30 of 30")  # back on the table before the next key
    t.keys("3")
    screen = t.wait_for("USD by day")
    assert "Spend this month" in screen
    t.keys("4")
    t.wait_for("No health checks registered")
    t.keys("1", "/", *"parser", "Enter")
    screen = t.wait_for("8 found")
    assert "refactor the parser" in screen and "count the files" not in screen
    t.keys("q")
    deadline = time.monotonic() + 15
    while "az" in t.run("list-sessions") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "az:" not in t.run("list-sessions")  # q quits and gives the terminal back
