"""The Task detail screen: every turn of one task, live while it runs.

Each turn shows its thought (or answer), every tool call with its
arguments and observation, tokens, USD and durations. While the task is
not finished the screen polls storage for the turns after the last one it
shows (``Storage.list_turns_after``: each turn is read and drawn once, so an
update costs the same at turn 5 and turn 500); for a task run by this
dashboard the engine's events make it look at once. Actions: cancel (running), resume (cancelled, failed,
interrupted), undo (only when a plugin provides ``az undo``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from az_os.types import Task, TaskStatus, Turn
from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

from az_tui.render import task_header, turn_renderable

if TYPE_CHECKING:  # pragma: no cover
    from az_tui.app import Dashboard

RESUMABLE = (TaskStatus.CANCELLED, TaskStatus.FAILED, TaskStatus.INTERRUPTED)
CANCELLABLE = (TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.INITIALIZED)


def rows(text: Text, width: int) -> int:
    """Screen rows ``text`` takes at ``width`` cells (each line wrapped)."""
    width = max(1, width)
    return sum(max(1, -(-cell_len(line) // width)) for line in text.plain.split("\n"))


class DetailScreen(Screen[None]):
    """One task, turn by turn."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "resume", "Resume"),
        Binding("u", "undo", "Undo"),
    ]

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self.az_task: Task | None = None
        self.shown = 0
        self.can_undo = False
        self._head: Text | None = None
        self._polling = False
        self._again = False
        self.updates = 0

    @property
    def dash(self) -> Dashboard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-head")
        yield RichLog(id="turns", wrap=True, markup=False, auto_scroll=True)
        yield Static("", id="detail-msg")
        yield Footer()

    def on_mount(self) -> None:
        src = self.dash.source
        task = src.task(self.task_id)
        if task is None:
            self.query_one("#detail-head", Static).update(f"no task '{self.task_id}'")
            return
        self.task_id = task.id
        self.show(task, src.turns_after(task.id, 0))
        self.set_interval(self.dash.poll_s, self.poll)
        self._check_undo()

    @work(thread=True, group="detail-undo")
    def _check_undo(self) -> None:
        can = self.dash.source.can_undo()
        self.app.call_from_thread(self._set_undo, can)

    def _set_undo(self, can: bool) -> None:
        self.can_undo = can
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        status = self.az_task.status if self.az_task else None
        if action == "cancel":
            return status in CANCELLABLE
        if action == "resume":
            return status in RESUMABLE and not self.dash.runner.is_running(self.task_id)
        if action == "undo":
            return self.can_undo and status is not None and status.finished
        return True

    # -- showing -------------------------------------------------------------
    def show(self, task: Task, turns: list[Turn], now: datetime | None = None) -> None:
        """Show ``task`` and append those of ``turns`` not shown yet (by index;
        callers pass only the new ones, ``Source.turns_after``)."""
        old = self.az_task.status if self.az_task else None
        self.az_task = task
        log = self.query_one("#turns", RichLog)
        width = max(40, (log.size.width or self.app.size.width) - 2)
        for turn in turns:
            if turn.index <= self.shown:
                continue
            log.write(turn_renderable(turn, width), width=width)
            self.shown = turn.index
        head = task_header(task, self.shown, now or self.dash.source.now())
        if head != self._head:
            box = self.query_one("#detail-head", Static)
            # a new layout of the screen only when the header's height may change
            layout = self._head is None or rows(self._head, box.size.width) != rows(
                head, box.size.width
            )
            self._head = head
            box.update(head, layout=layout)
        self.updates += 1
        if old != task.status:
            self.refresh_bindings()

    def poll(self) -> None:
        """Look for new turns and a changed status (while one look runs, one
        more follows it, so a change during a look is not left for the next tick)."""
        if self.az_task is None:
            return
        if self._polling:
            self._again = True
            return
        self._polling = True
        self._poll(self.shown)

    @work(thread=True, group="detail-poll")
    def _poll(self, after: int) -> None:
        src = self.dash.source
        try:
            task = src.task(self.task_id)
            turns = src.turns_after(self.task_id, after)
        except Exception:  # noqa: BLE001 - try again on the next tick
            task, turns = None, []
        self.app.call_from_thread(self._poll_done, task, turns)

    def _poll_done(self, task: Task | None, turns: list[Turn]) -> None:
        self._polling = False
        if task is not None and (
            turns or self.az_task is None or task.updated_at != self.az_task.updated_at
        ):
            self.show(task, turns)
        if self._again:
            self._again = False
            self.poll()

    def nudge(self) -> None:
        """An engine event for this task: look now instead of at the next tick."""
        self.poll()

    def message(self, text: str) -> None:
        self.query_one("#detail-msg", Static).update(text)

    # -- actions -------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cancel(self) -> None:
        self.dash.cancel_task(self.task_id)
        self.message(f"cancelling task {self.task_id} …")

    def action_resume(self) -> None:
        self.dash.runner.resume(self.task_id)
        self.message(f"resuming task {self.task_id} …")
        self.refresh_bindings()
        self.set_timer(0.2, self.poll)

    def action_undo(self) -> None:
        self.message(f"undoing the last change of task {self.task_id} …")
        self._undo()

    @work(thread=True, group="detail-undo")
    def _undo(self) -> None:
        msg = self.dash.runner.undo(self.task_id)
        src = self.dash.source
        task, turns = src.task(self.task_id), src.turns(self.task_id)

        def done() -> None:
            self.message(msg)
            if task is not None:
                log = self.query_one("#turns", RichLog)
                log.clear()
                self.shown = 0
                self._head = None
                self.show(task, turns)

        self.app.call_from_thread(done)
