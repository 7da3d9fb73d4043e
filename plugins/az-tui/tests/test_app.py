"""The dashboard driven with Textual's pilot on a real SQLite database:
navigation, filter and search, lazy loading, tasks run from the Run view
through the kernel's approval policy, cancel, and a task started by a
separate ``az task run`` process appearing live."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import az_os.scripted
from az_os.types import Message, Task, TaskStatus, ToolCall, ToolResult, Turn, Usage
from az_tui.app import Dashboard
from az_tui.data import Source
from az_tui.detail import DetailScreen, TurnLog
from az_tui.run_view import ApprovalModal
from conftest import METRICS, NOW, HealthPlugin, only_plugins, seed, wait_for
from textual.widgets import DataTable, Input, RichLog, Select, Static, TabbedContent


def _app(**kw: Any) -> Dashboard:
    kw.setdefault("metrics_fn", lambda: METRICS)
    return Dashboard(**kw)


def _rows(app: Dashboard) -> list[str]:
    table = app.query_one("#tasks-table", DataTable)
    return [str(k.value) for k in table.rows]


def _screen_text(app: Dashboard) -> str:
    """The characters of the screen as painted."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def _text(app: Any, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_navigation_keys_mouse_and_detail(storage: Any) -> None:
    tasks = seed(storage)
    app = _app(source=Source(now=lambda: NOW))
    async with app.run_test(size=(80, 24)) as pilot:
        views = app.query_one("#views", TabbedContent)
        assert views.active == "tasks"
        assert _rows(app)[:2] == [tasks[-1].id, tasks[-2].id]
        for key, name in (("3", "cost"), ("4", "health"), ("2", "run"), ("1", "tasks")):
            if name == "tasks":
                await pilot.press("escape")  # leave the prompt of the Run view first
            await pilot.press(key)
            await pilot.pause()
            assert views.active == name
        await pilot.click("#views Tab#--content-tab-cost")
        await pilot.pause()
        assert views.active == "cost"
        await pilot.press("1")
        await pilot.pause()
        # Enter opens the highlighted task: every turn with its tool call and observation
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.shown == 3)
        log = screen.query_one("#turns", TurnLog)
        text = "\n".join(line.text for line in log.lines)
        assert "I should look at the files (1)" in text
        assert 'filesystem.list {"path": "."}' in text
        assert "README.md" in text and "There are 2 files." in text
        assert "420+20 tokens" in text and "$0.0000" in text
        assert "3 turns" in _text(screen, "#detail-head")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)


def _turn(task_id: str, k: int) -> Turn:
    return Turn(
        task_id=task_id,
        index=k,
        model="scripted/cheap",
        messages=[Message(role="assistant", content=f"looking again ({k})")],
        tool_calls=[ToolCall(id=f"call_{k}", name="filesystem.list", arguments={"path": "."})],
        tool_results=[ToolResult(success=True, result=["README.md"], duration_ms=1.0)],
        usage=Usage(prompt_tokens=400 + k, completion_tokens=20, cost_usd=0.00004),
        model_duration_ms=20.0,
    )


def _in_view(log: TurnLog) -> str:
    top = int(log.scroll_y)
    return "\n".join(s.text for s in log.lines[top : top + log.scrollable_content_region.height])


async def test_detail_follows_new_turns_until_scrolled_up(storage: Any) -> None:
    task = storage.create_task(Task(description="stream"))
    app = _app(source=Source(now=lambda: NOW), poll_s=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_task(task.id)
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.az_task is not None)
        log = screen.query_one("#turns", TurnLog)
        for k in range(1, 21):  # 80 lines: four screens
            storage.add_turn(_turn(task.id, k))
        await wait_for(pilot, lambda: screen.shown == 20)
        await pilot.pause()
        assert "turn 20" in _in_view(log) and "turn 1 " not in _in_view(log)
        await pilot.press("home")  # the user scrolls back to the start
        await wait_for(pilot, lambda: "turn 1 " in _in_view(log))
        storage.add_turn(_turn(task.id, 21))
        await wait_for(pilot, lambda: screen.shown == 21)
        await pilot.pause()
        assert "turn 1 " in _in_view(log)  # not pulled away from what they read
        assert "3 turns" not in _text(screen, "#detail-head")
        assert "21 turns" in _text(screen, "#detail-head")
        await pilot.press("end")  # back at the end: follows again
        storage.add_turn(_turn(task.id, 22))
        await wait_for(pilot, lambda: screen.shown == 22)
        await wait_for(pilot, lambda: "turn 22" in _in_view(log))


async def test_tasks_added_under_the_detail_view_show_on_return(storage: Any) -> None:
    seed(storage, 5)
    app = _app(source=Source(), poll_s=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        fresh = storage.create_task(Task(description="made while the detail was open"))
        await pilot.pause(0.5)  # several polls of the covered Tasks view
        await pilot.press("escape")
        await wait_for(pilot, lambda: _rows(app)[:1] == [fresh.id])
        await pilot.pause()
        painted = _screen_text(app)
        assert f"{fresh.id[:8]}  initialized" in painted and "6 of 6" in painted


async def test_filter_and_search(storage: Any) -> None:
    seed(storage)
    app = _app(source=Source(now=lambda: NOW))
    async with app.run_test(size=(120, 40)) as pilot:
        assert "40 of 40" in _text(app, "#count")
        await pilot.press("f")  # all → initialized (none)
        await wait_for(pilot, lambda: "initialized" in _text(app, "#filter") and not _rows(app))
        for _ in range(4):  # → pending, running, completed, failed
            await pilot.press("f")
        await wait_for(pilot, lambda: "failed" in _text(app, "#filter"))
        await wait_for(pilot, lambda: len(_rows(app)) == 7)
        assert {storage.get_task(i).status for i in _rows(app)} == {TaskStatus.FAILED}
        assert "7 of 7" in _text(app, "#count")
        await pilot.press("slash")
        await pilot.press(*"parser")
        await wait_for(pilot, lambda: "4 found" in _text(app, "#count"))
        rows = _rows(app)  # failed tasks #1, #13, #25, #37 are the parser ones
        assert rows == ["a0375e7c0d1f", "a0255e7c0d1f", "a0135e7c0d1f", "a0015e7c0d1f"]
        assert all("parser" in storage.get_task(i).description for i in rows)
        await pilot.press("escape")  # clears the search
        await wait_for(pilot, lambda: len(_rows(app)) == 7)


async def test_rows_load_lazily(storage: Any) -> None:
    from az_os.types import Task

    for i in range(260):
        storage.create_task(Task(id=f"b{i:011d}", description=f"bulk {i}"))
    pages: list[tuple[int, int]] = []

    class Recording(Source):
        def task_page(self, status: Any, text: str, limit: int, offset: int = 0) -> Any:
            pages.append((limit, offset))
            return super().task_page(status, text, limit, offset)

    app = _app(source=Recording())
    async with app.run_test(size=(80, 24)) as pilot:
        # one screenful before the first paint, the rest of the page right after it
        await wait_for(pilot, lambda: len(_rows(app)) == 124)
        assert pages == [(24, 0), (100, 24)]
        assert "124 of 260" in _text(app, "#count")
        table = app.query_one("#tasks-table", DataTable)
        table.focus()
        await pilot.press("ctrl+end")  # the cursor to the last row read
        await wait_for(pilot, lambda: len(_rows(app)) == 224)
        table.scroll_end(animate=False)  # the scroll bar or the wheel does the same
        await wait_for(pilot, lambda: len(_rows(app)) == 260)
        assert len(set(_rows(app))) == 260


async def _start_run(app: Dashboard, pilot: Any, prompt: str, workspace: Path) -> str:
    await pilot.press("2")
    select = app.query_one("#model", Select)
    await wait_for(pilot, lambda: len(select._options) > 1)
    select.value = "scripted/cheap"
    app.query_one("#workspace", Input).value = str(workspace)
    app.query_one("#prompt", Input).focus()
    app.query_one("#prompt", Input).value = prompt
    await pilot.press("enter")
    run_view = app.query_one("#run-view")
    return await wait_for(pilot, lambda: run_view.task_id)  # type: ignore[attr-defined]


async def test_run_view_approval_modal_approve_and_deny(storage: Any, tmp_path: Path) -> None:
    az_os.scripted.set_script(
        [
            {
                "tool": "filesystem.write",
                "arguments": {"path": "yes.txt", "content": "approved"},
                "thought": "write it",
            },
            {"tool": "filesystem.write", "arguments": {"path": "no.txt", "content": "denied"}},
            {"answer": "one written, one refused"},
        ]
    )
    app = _app(source=Source(), workspace=str(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        task_id = await _start_run(app, pilot, "write two files", tmp_path)
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal) and app.screen)
        # exactly what will run: the tool's own description and the full arguments
        assert "filesystem.write" in _text(modal, "#approval-call")
        assert "'yes.txt'" in _text(modal, "#approval-call")
        assert '"content": "approved"' in _text(modal, "#approval-args")
        assert not (tmp_path / "yes.txt").exists()
        await pilot.press("y")
        modal2 = await wait_for(
            pilot, lambda: isinstance(app.screen, ApprovalModal) and app.screen is not modal
        )
        assert modal2 and (tmp_path / "yes.txt").read_text() == "approved"
        await pilot.click("#deny")
        await wait_for(pilot, lambda: storage.get_task(task_id).status == TaskStatus.COMPLETED)
        assert not (tmp_path / "no.txt").exists()
        turns = storage.list_turns(task_id)
        assert turns[0].tool_results[0].success
        assert "refused by the user" in (turns[1].tool_results[0].error or "")
        log = app.query_one("#run-log", RichLog)
        await wait_for(pilot, lambda: "completed" in "\n".join(x.text for x in log.lines))


async def test_always_for_this_task_asks_once(storage: Any, tmp_path: Path) -> None:
    az_os.scripted.set_script(
        [
            {"tool": "filesystem.write", "arguments": {"path": "a.txt", "content": "1"}},
            {"tool": "filesystem.write", "arguments": {"path": "b.txt", "content": "2"}},
            {"answer": "both"},
        ]
    )
    asked: list[str] = []
    app = _app(source=Source(), workspace=str(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        original = app._ask

        def counting(task: Any, description: str, arguments: Any, reply: Any) -> None:
            asked.append(description)
            original(task, description, arguments, reply)

        app.runner.ask = counting
        task_id = await _start_run(app, pilot, "write a and b", tmp_path)
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal))
        await pilot.press("a")
        await wait_for(pilot, lambda: storage.get_task(task_id).status == TaskStatus.COMPLETED)
        assert (tmp_path / "a.txt").read_text() == "1" and (tmp_path / "b.txt").read_text() == "2"
        assert len(asked) == 1


async def test_cancel_a_running_task_from_its_detail(storage: Any, tmp_path: Path) -> None:
    az_os.scripted.set_script(
        [
            {"tool": "filesystem.list", "arguments": {"path": "."}},
            {"sleep": 3.0, "answer": "too late"},
        ]
    )
    app = _app(source=Source(), workspace=str(tmp_path), poll_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        task_id = await _start_run(app, pilot, "list slowly", tmp_path)
        await wait_for(pilot, lambda: len(storage.list_turns(task_id)) == 1)
        app.open_task(task_id)
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.shown == 1)
        await wait_for(pilot, lambda: app.screen.check_action("cancel", ()))
        await pilot.press("c")
        await wait_for(pilot, lambda: storage.get_task(task_id).status == TaskStatus.CANCELLED)
        await wait_for(pilot, lambda: "cancelled" in _text(screen, "#detail-head"))
        # a cancelled task can be resumed; it was cancelled, so cancel is no longer offered
        await wait_for(pilot, lambda: screen.check_action("resume", ()))
        assert not screen.check_action("cancel", ())
        assert not screen.check_action("undo", ())  # no checkpoint plugin installed


async def test_az_task_cancel_from_a_terminal_stops_that_task_not_the_dashboard(
    storage: Any, home: Path, tmp_path: Path
) -> None:
    """`az task cancel ID` in another terminal: the dashboard holds the task's
    claim, so the command signals no process (SIGINT would end this very
    process, the dashboard under test); the claim watch stops that task only
    and the dashboard runs on."""
    az_os.scripted.set_script(
        [
            {"tool": "filesystem.list", "arguments": {"path": "."}},
            {"sleep": 30.0, "answer": "too late"},
        ]
    )
    app = _app(source=Source(), workspace=str(tmp_path), poll_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        task_id = await _start_run(app, pilot, "list slowly", tmp_path)
        await wait_for(pilot, lambda: len(storage.list_turns(task_id)) == 1)
        holder = storage.claim_holder(task_id) or ""
        assert holder.startswith("az-dashboard@") and holder.endswith(f":{os.getpid()}")
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "az_os.cli", "task", "cancel", task_id],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "AZ_HOME": str(home)},
        )
        assert proc.returncode == 0, proc
        assert holder in proc.stdout and "signalled" not in proc.stdout
        await wait_for(pilot, lambda: not app.runner.is_running(task_id), timeout=15)
        assert time.monotonic() - start < 10  # stopped, not after the 30 s model call
        assert storage.get_task(task_id).status == TaskStatus.CANCELLED
        assert len(storage.list_turns(task_id)) == 1  # the slow call was abandoned
        assert storage.claim_holder(task_id) is None  # released when the run ended
        # the dashboard is alive and runs the next task
        az_os.scripted.set_script([{"answer": "still here"}])
        await _start_run(app, pilot, "answer", tmp_path)
        run_view = app.query_one("#run-view")
        second = await wait_for(
            pilot,
            lambda: run_view.task_id != task_id and run_view.task_id,  # type: ignore[attr-defined]
        )
        await wait_for(pilot, lambda: storage.get_task(second).status == TaskStatus.COMPLETED)


async def test_task_from_another_process_appears_live(
    storage: Any, home: Path, scripted_env: Any, tmp_path: Path
) -> None:
    seed(storage, 5)
    env = {
        **os.environ,
        **scripted_env(
            [
                {"sleep": 1.5, "tool": "filesystem.list", "arguments": {"path": "."}},
                {"answer": "listed"},
            ]
        ),
        "AZ_HOME": str(home),
    }
    app = _app(source=Source())
    async with app.run_test(size=(100, 30)) as pilot:
        assert len(_rows(app)) == 5
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "az_os.cli",
                "task",
                "run",
                "list from outside",
                "--model",
                "scripted/cheap",
                "--approve",
                "auto",
                "--workspace",
                str(tmp_path),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            found = await wait_for(
                pilot,
                lambda: next(
                    (
                        t
                        for t in storage.list_tasks(limit=1)
                        if t.description == "list from outside"
                    ),
                    None,
                ),
                timeout=60,
            )
            stored_at = time.monotonic()
            await wait_for(pilot, lambda: found.id in _rows(app), timeout=5)
            delay = time.monotonic() - stored_at
            assert delay < 1.0, f"appeared after {delay:.2f} s"
            assert _rows(app)[0] == found.id
            table = app.query_one("#tasks-table", DataTable)
            await wait_for(
                pilot,
                lambda: "completed" in str(table.get_cell(found.id, "status")),
                timeout=60,
            )
            await wait_for(pilot, lambda: str(table.get_cell(found.id, "turns")).strip() == "2")
        finally:
            out = proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, out


async def test_health_view_with_and_without_a_health_plugin(storage: Any, monkeypatch: Any) -> None:
    only_plugins(monkeypatch, "sqlite")  # az-tools registers a sandbox check
    app = _app(source=Source(now=lambda: NOW), metrics="health", health_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "CPU 12%" in _text(app, "#metrics"))
        assert "No health checks" in _text(app, "#no-health")
        assert not app.query_one("#checks", DataTable).display
        from az_os.plugins import get_host

        get_host().register(HealthPlugin(), "health-test")
        table = app.query_one("#checks", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, timeout=5)
        assert table.display and _text(app, "#no-health") == ""
        assert "degraded" in str(table.get_row_at(1)[1])


async def test_cost_view_spend_budget_and_alert(storage: Any, home: Path) -> None:
    seed(storage, 3)
    (home / "config.toml").write_text(
        '[cost]\nbudget_usd = 20\nbudget_period = "monthly"\nalert_pct = 50\n'
    )
    app = _app(source=Source(now=lambda: NOW), metrics="cost")
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one("#cost-view")
        await wait_for(pilot, lambda: view.summary is not None)  # type: ignore[attr-defined]
        s = view.summary  # type: ignore[attr-defined]
        # November 19..30 (12 days), both models, from the cost_tracking rows
        assert len(s.by_day) == 30 and s.calls == 24
        assert [m for m, _, _ in s.by_model] == ["anthropic/claude-sonnet-4-5", "scripted/cheap"]
        assert abs(s.total_usd - sum(c for _, c in s.by_day)) < 1e-9
        budget = _text(app, "#budget")
        assert "Budget $20.00 monthly" in budget and "alert at 50%" in budget
        assert f"{s.budget.percent_used:.0f}% used" in budget
        assert s.budget.percent_used >= 50 and "ALERT" in budget
        await pilot.press("p")  # → all
        await wait_for(pilot, lambda: view.summary.period == "all")  # type: ignore[attr-defined]
        assert "all time" in _text(app, "#cost-head")


async def test_a_changed_task_redraws_only_its_changed_cells(storage: Any) -> None:
    tasks = seed(storage, 10)
    app = _app(source=Source(), poll_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(_rows(app)) == 10)
        table = app.query_one("#tasks-table", DataTable)
        updated: list[tuple[str, str]] = []
        original = table.update_cell

        def record(row_key: Any, column_key: Any, value: Any, **kw: Any) -> None:
            updated.append((str(row_key), str(column_key)))
            original(row_key, column_key, value, **kw)

        table.update_cell = record  # type: ignore[method-assign]
        target = storage.get_task(tasks[2].id)
        assert target.status == TaskStatus.COMPLETED
        storage.update_task(target.replace(status=TaskStatus.CANCELLED))
        await wait_for(pilot, lambda: "cancelled" in str(table.get_cell(target.id, "status")))
        await pilot.pause(0.5)  # a few more polls: nothing else is redrawn
        assert updated == [(target.id, "status")]
