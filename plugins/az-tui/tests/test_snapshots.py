"""Snapshots of every screen at 80×24 and 160×48, dark and light
(pytest-textual-snapshot; ``pytest --snapshot-update`` accepts changes after
looking at them). Fixed ids, times, metrics and workspace keep them stable."""

from __future__ import annotations

from typing import Any

import pytest
from az_os.types import Task
from az_tui.app import Dashboard
from az_tui.data import Source
from az_tui.detail import DetailScreen
from az_tui.run_view import ApprovalModal
from conftest import METRICS, NOW, HealthPlugin, only_plugins, seed, table_laid_out, wait_for

SIZES = [(80, 24), (160, 48)]
THEMES = ["dark", "light"]


async def _tasks(pilot: Any) -> None:
    await pilot.pause()


async def _detail(pilot: Any) -> None:
    app = pilot.app
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown == 3)
    await pilot.pause()


async def _run(pilot: Any) -> None:
    await pilot.press("2")
    select = pilot.app.query_one("#model")
    await wait_for(pilot, lambda: len(select._options) > 1)  # the models are listed
    await pilot.pause()


async def _approval(pilot: Any) -> None:
    await pilot.press("2")
    task = Task(id="c0ffee5e7c0d", description="clean up the build directory", created_at=NOW)
    pilot.app.push_screen(
        ApprovalModal(
            task,
            "shell.execute: rm -rf build/ && make dist",
            {"command": "rm -rf build/ && make dist", "timeout": 120},
        )
    )
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ApprovalModal))
    await pilot.pause()


async def _cost(pilot: Any) -> None:
    await pilot.press("3")
    view = pilot.app.query_one("#cost-view")
    await wait_for(pilot, lambda: view.summary is not None)
    await wait_for(pilot, lambda: table_laid_out(pilot.app.query_one("#by-model"), 2))
    await pilot.pause()


async def _health(pilot: Any) -> None:
    await pilot.press("4")
    await wait_for(pilot, lambda: table_laid_out(pilot.app.query_one("#checks"), 2))
    await pilot.pause()


SCREENS = {
    "tasks": _tasks,
    "detail": _detail,
    "run": _run,
    "approval": _approval,
    "cost": _cost,
    "health": _health,
}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    screen: str,
    size: tuple[int, int],
    theme: str,
    storage: Any,
    home: Any,
    snap_compare: Any,
    monkeypatch: Any,
) -> None:
    from az_os.plugins import get_host

    only_plugins(monkeypatch, "sqlite")  # no check whose answer depends on the machine
    seed(storage)
    (home / "config.toml").write_text("[cost]\nbudget_usd = 25\nalert_pct = 80\n")
    get_host().register(HealthPlugin(), "health-test")
    app = Dashboard(
        source=Source(now=lambda: NOW),
        theme=theme,
        metrics_fn=lambda: METRICS,
        workspace="/work/project",
        poll_s=60,
    )

    async def run_before(pilot: Any) -> None:
        from textual.widgets import Input

        # the views besides the first are mounted after the first paint
        await wait_for(pilot, lambda: len(pilot.app.query(".view")) == 4)
        await wait_for(pilot, lambda: bool(pilot.app.query("#prompt, #workspace")))
        for widget in pilot.app.query(Input):
            widget.cursor_blink = False  # a blinking cursor is a coin toss in a snapshot
        await SCREENS[screen](pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
