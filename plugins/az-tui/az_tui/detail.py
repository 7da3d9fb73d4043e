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
from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Static

from az_tui.render import task_header, turn_renderable

if TYPE_CHECKING:  # pragma: no cover
    from az_tui.app import Dashboard

RESUMABLE = (TaskStatus.CANCELLED, TaskStatus.FAILED, TaskStatus.INTERRUPTED)
CANCELLABLE = (TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.INITIALIZED)


def rows(text: Text, width: int) -> int:
    """Screen rows ``text`` takes at ``width`` cells (each line wrapped)."""
    width = max(1, width)
    return sum(max(1, -(-cell_len(line) // width)) for line in text.plain.split("\n"))


class TurnLog(ScrollView, can_focus=True):
    """The turns, as lines drawn once and kept: an append-only log that
    paints only the lines in view (Textual's line API) and keeps the newest
    line in view while the view is at the end (scroll up to stop following,
    back to the end to follow again).

    ``lines`` are the rendered lines (``Strip``; ``.text`` is the plain text).
    Unlike RichLog, lines added before the first layout are drawn at once (at
    the screen's width), and the scroll to the end happens in the same frame
    as the new lines, not one frame later."""

    DEFAULT_CSS = """
    TurnLog {
        background: $surface;
        color: $foreground;
        overflow-y: scroll;
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Strip] = []
        self.follow = True
        self._cache: LRUCache[tuple[int, int, int, Style], Strip] = LRUCache(1024)
        self._style = Style()
        self._width = 0

    @property
    def line_width(self) -> int:
        """Cells per line: the width of the text area (before the first
        layout, the screen's less padding and scroll bar)."""
        width = self.scrollable_content_region.width
        if width <= 0:
            width = self.app.size.width - 4
        return max(20, width)

    def append(self, renderables: list[RenderableType]) -> None:
        """Draw ``renderables`` (each at :attr:`line_width`) below the last line."""
        if not renderables:
            return
        width = self.line_width
        console = self.app.console
        options = console.options.update_width(width)
        for renderable in renderables:
            segments = console.render(renderable, options)
            for line in Segment.split_and_crop_lines(segments, width, pad=False):
                self.lines.append(Strip(line))
        self.virtual_size = Size(width, len(self.lines))
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False)

    def clear(self) -> None:
        self.lines.clear()
        self._cache.clear()
        self.follow = True
        self.virtual_size = Size(0, 0)
        self.scroll_to(y=0, animate=False)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.follow = new_value >= self.max_scroll_y

    def on_resize(self) -> None:
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._style = self.rich_style  # once per paint, not per line
        self._width = self.scrollable_content_region.width
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self._width
        style = self._style
        if index >= len(self.lines):
            return Strip.blank(width, style)
        key = (index, scroll_x, width, style)
        strip = self._cache.get(key)
        if strip is None:
            strip = self.lines[index].crop_extend(scroll_x, scroll_x + width, style)
            strip = strip.apply_style(style)
            self._cache[key] = strip
        return strip


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
        yield TurnLog(id="turns")
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
        log = self.query_one("#turns", TurnLog)
        width = log.line_width
        new = []
        for turn in turns:
            if turn.index <= self.shown:
                continue
            new.append(turn_renderable(turn, width))
            self.shown = turn.index
        log.append(new)
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
                log = self.query_one("#turns", TurnLog)
                log.clear()
                self.shown = 0
                self._head = None
                self.show(task, turns)

        self.app.call_from_thread(done)
