"""The Tasks view: a live table of tasks with a status filter and search.

Rows are loaded a page at a time (newest first) and more as the cursor
nears the end, so 100,000 stored tasks cost one page. At start-up the first
page is one screenful (what the first paint shows); the rest of the page
is read in a worker right after. Every ``poll_s``
seconds the view asks storage for tasks updated since the last poll
(``Storage.list_tasks_updated_since``, an indexed query): new tasks appear
at the top, changed ones are updated in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from az_os.types import Task, TaskStatus
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from az_tui.data import STATUS_FILTERS
from az_tui.render import TASK_COLUMNS, task_cells

if TYPE_CHECKING:  # pragma: no cover
    from az_tui.app import Dashboard

#: Rows fetched per page, and how close to the end the cursor gets before the next page.
PAGE = 100
PREFETCH = 20


class TasksView(Vertical):
    """Tasks: status, model, turns, tokens, USD, age; ``/`` search, ``f`` filter."""

    BINDINGS = [
        Binding("slash", "focus_search", "Search"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("c", "cancel", "Cancel task"),
        Binding("escape", "clear_search", "Clear", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.tasks: list[Task] = []
        self.index: dict[str, int] = {}
        self.turns: dict[str, int] = {}
        self.seen: dict[str, datetime] = {}
        self.status: TaskStatus | None = None
        self.text = ""
        self.total: int | None = None
        self.exhausted = False
        self.since: datetime | None = None
        self._loading = False
        self._generation = 0
        self._polling = False
        self._search_timer: Timer | None = None

    @property
    def dash(self) -> Dashboard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="task-bar"):
            yield Input(placeholder="search id, task or model  (/)", id="search")
            yield Static("", id="filter")
            yield Static("", id="count")
        table: DataTable[Any] = DataTable(id="tasks-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in TASK_COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table

    def on_mount(self) -> None:
        # One screenful is read right away, so the first paint shows tasks;
        # the rest of the page follows in a worker after that paint.
        first = max(10, self.app.size.height)
        self._apply_page(*self._fetch(0, first), reset=True, limit=first)
        if not self.exhausted:
            self._loading = True
            self.call_after_refresh(lambda: self._load_more(len(self.tasks)))
        self.set_interval(self.dash.poll_s, self.poll)
        self.set_interval(5.0, self._refresh_ages)
        table = self.query_one("#tasks-table", DataTable)
        self.watch(table, "scroll_y", self._scrolled, init=False)

    # -- loading -------------------------------------------------------------
    def _fetch(
        self, offset: int, limit: int = PAGE
    ) -> tuple[list[Task], dict[str, int], int | None, datetime]:
        src = self.dash.source
        stamp = src.now()
        tasks = src.task_page(self.status, self.text, limit, offset)
        counts = src.turn_counts([t.id for t in tasks])
        total = src.count(self.status) if not self.text else None
        return tasks, counts, total, stamp

    def reload(self) -> None:
        """Read the first page again (after a filter or search change); a
        next page still being read for the old filter is dropped."""
        self._generation += 1
        self._reload()

    @work(thread=True, exclusive=True, group="tasks-load")
    def _reload(self) -> None:
        result = self._fetch(0)
        self.app.call_from_thread(self._apply_page, *result, reset=True)

    @work(thread=True, exclusive=True, group="tasks-more")
    def _load_more(self, offset: int) -> None:
        generation = self._generation
        result = self._fetch(offset)

        def apply() -> None:
            if generation == self._generation:
                self._apply_page(*result, reset=False)
            else:
                self._loading = False

        self.app.call_from_thread(apply)

    def _apply_page(
        self,
        tasks: list[Task],
        counts: dict[str, int],
        total: int | None,
        stamp: datetime,
        reset: bool,
        limit: int = PAGE,
    ) -> None:
        table = self.query_one("#tasks-table", DataTable)
        self._loading = False
        if reset:
            self.tasks, self.index, self.seen = [], {}, {}
            table.clear()
            if self.since is None:
                self.since = stamp
        self.turns.update(counts)
        now = self.dash.source.now()
        for t in tasks:
            if t.id in self.index:
                continue
            self.index[t.id] = len(self.tasks)
            self.tasks.append(t)
            self.seen[t.id] = t.updated_at
            table.add_row(*task_cells(t, self.turns.get(t.id, 0), now), key=t.id)
        self.exhausted = len(tasks) < limit
        if total is not None:
            self.total = total
        self._show_counts()

    def _show_counts(self) -> None:
        shown = len(self.tasks)
        if self.text:
            more = "" if self.exhausted else "+"
            text = f"{shown:,}{more} found"
        else:
            text = f"{shown:,} of {self.total or 0:,}"
        self.query_one("#count", Static).update(text)
        label = self.status.value if self.status else "all"
        self.query_one("#filter", Static).update(f"status: {label} (f)")

    @on(DataTable.RowHighlighted, "#tasks-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._maybe_more(event.cursor_row)

    def _scrolled(self, scroll_y: float) -> None:
        """Mouse wheel or scroll bar: the last row in view counts like the cursor."""
        table = self.query_one("#tasks-table", DataTable)
        self._maybe_more(int(scroll_y) + table.scrollable_content_region.height)

    def _maybe_more(self, row: int) -> None:
        """Read the next page when ``row`` is within PREFETCH rows of the end."""
        if self.exhausted or self._loading:
            return
        if row >= len(self.tasks) - PREFETCH:
            self._loading = True
            self._load_more(len(self.tasks))

    # -- live updates --------------------------------------------------------
    def poll(self) -> None:
        """Ask storage what changed since the last poll (skipped while one runs)."""
        if self._polling or self.since is None:
            return
        self._polling = True
        self._poll()

    @work(thread=True, group="tasks-poll")
    def _poll(self) -> None:
        try:
            src = self.dash.source
            stamp = src.now()
            changed = [
                t for t in src.changed_since(self.since) if self.seen.get(t.id) != t.updated_at
            ]
            counts = src.turn_counts([t.id for t in changed]) if changed else {}
            total = src.count(self.status) if changed and not self.text else None
        except Exception:  # noqa: BLE001 - a busy database: try again next time
            self.app.call_from_thread(self._poll_done, [], {}, None, None)
            return
        self.app.call_from_thread(self._poll_done, changed, counts, total, stamp)

    def _poll_done(
        self,
        changed: list[Task],
        counts: dict[str, int],
        total: int | None,
        stamp: datetime | None,
    ) -> None:
        self._polling = False
        if stamp is not None:
            latest = max((t.updated_at for t in changed), default=None)
            self.since = (
                max(d for d in (self.since, latest) if d is not None) if latest else self.since
            )
        if not changed:
            return
        shown_turns = {t.id: self.turns.get(t.id, 0) for t in changed}
        self.turns.update(counts)
        table = self.query_one("#tasks-table", DataTable)
        now = self.dash.source.now()
        newest = self.tasks[0].created_at if self.tasks else None
        fresh: list[Task] = []
        for t in changed:
            self.seen[t.id] = t.updated_at
            if t.id in self.index:
                old = self.tasks[self.index[t.id]]
                self.tasks[self.index[t.id]] = t
                before = task_cells(old, shown_turns[t.id], now)
                cells = task_cells(t, self.turns.get(t.id, 0), now)
                for (key, _, _), was, value in zip(TASK_COLUMNS, before, cells, strict=True):
                    if value != was:  # only the cells that changed are redrawn
                        table.update_cell(t.id, key, value)
            elif self._matches(t) and (newest is None or t.created_at >= newest):
                fresh.append(t)
        if fresh:
            fresh.sort(key=lambda t: t.created_at, reverse=True)
            self._prepend(fresh)
        if total is not None:
            self.total = total
        self._show_counts()

    def _matches(self, t: Task) -> bool:
        if self.status is not None and t.status != self.status:
            return False
        if self.text:
            needle = self.text.casefold()
            return any(needle in (v or "").casefold() for v in (t.id, t.description, t.model))
        return True

    def _prepend(self, fresh: list[Task]) -> None:
        """Put new tasks on top, keeping the cursor on the row it was on."""
        table = self.query_one("#tasks-table", DataTable)
        current = self.tasks[table.cursor_row].id if self.tasks and table.row_count else None
        self.tasks = fresh + self.tasks
        self.index = {t.id: i for i, t in enumerate(self.tasks)}
        now = self.dash.source.now()
        table.clear()
        for t in self.tasks:
            table.add_row(*task_cells(t, self.turns.get(t.id, 0), now), key=t.id)
        if current is not None and table.cursor_row != self.index[current]:
            table.move_cursor(row=self.index[current], animate=False)

    def _refresh_ages(self) -> None:
        table = self.query_one("#tasks-table", DataTable)
        now = self.dash.source.now()
        for t in self.tasks[:500]:
            before = table.get_cell(t.id, "age")
            after = task_cells(t, 0, now)[6]
            if after != before:
                table.update_cell(t.id, "age", after)

    # -- actions -------------------------------------------------------------
    def highlighted(self) -> Task | None:
        table = self.query_one("#tasks-table", DataTable)
        if not self.tasks or table.cursor_row < 0 or table.cursor_row >= len(self.tasks):
            return None
        return self.tasks[table.cursor_row]

    @on(DataTable.RowSelected, "#tasks-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        self.dash.open_task(str(event.row_key.value))

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.value:
            search.value = ""
        self.query_one("#tasks-table", DataTable).focus()

    def action_cycle_filter(self) -> None:
        i = STATUS_FILTERS.index(self.status)
        self.status = STATUS_FILTERS[(i + 1) % len(STATUS_FILTERS)]
        self._show_counts()
        self.reload()

    def action_cancel(self) -> None:
        task = self.highlighted()
        if task is not None:
            self.dash.cancel_task(task.id)

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value.strip()

        def apply() -> None:
            if value != self.text:
                self.text = value
                self.reload()

        self._search_timer = self.set_timer(0.15, apply)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value.strip()
        if value != self.text:
            self.text = value
            self.reload()
        self.query_one("#tasks-table", DataTable).focus()
