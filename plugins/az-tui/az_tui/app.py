"""``az dashboard``: the Textual app.

Views (tabs; keys 1-4 or the mouse): Tasks, Run, Cost, Health; Enter on a
task opens its detail screen. ``--metrics`` picks the views: ``all``;
``tasks`` (Tasks and Run); ``cost``; ``health``. ``--theme dark|light``.

Everything is read through the kernel's contracts (:mod:`az_tui.data`);
tasks started here run in the kernel's engine (:mod:`az_tui.runner`), and
their approval questions come through the kernel's policy as a modal.

Start-up: only the first view is composed before the first paint; the other
views (and their modules), the approval hook and the engine are loaded right
after it, so the first screen of tasks shows as early as possible.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane

from az_tui.data import Source
from az_tui.runner import Answer, Runner

THEMES = {"dark": "textual-dark", "light": "textual-light"}
VIEWS = {
    "all": ("tasks", "run", "cost", "health"),
    "tasks": ("tasks", "run"),
    "cost": ("cost",),
    "health": ("health",),
}
TITLES = {"tasks": "Tasks", "run": "Run", "cost": "Cost", "health": "Health"}
#: The widget class of each view: (module, class), imported when first mounted.
VIEW_CLASSES = {
    "tasks": ("az_tui.tasks_view", "TasksView"),
    "run": ("az_tui.run_view", "RunView"),
    "cost": ("az_tui.cost_view", "CostView"),
    "health": ("az_tui.health_view", "HealthView"),
}


@functools.cache
def changes() -> frozenset[str]:
    """Engine events after which stored rows changed (worth a look right
    away): the lifecycle events and the engine's own end-of-run event."""
    from az_os.engine import LIFECYCLE

    return frozenset(LIFECYCLE | {"stopped"})


def settle_heap() -> None:
    """Leave the objects that exist now (modules, views, the engine once
    loaded: they live as long as the app) out of Python's garbage collector
    passes. A full pass over them took 80-150 ms of the UI thread, a visible
    stall, every few seconds while turns streamed in; after this a pass looks
    only at what was made since. Called at moments when what was just made
    stays (after the first paint, when a task is opened)."""
    import gc

    gc.freeze()


def make_view(name: str) -> Widget:
    """A new widget for view ``name`` (its module imported on first use)."""
    module, cls = VIEW_CLASSES[name]
    view: Widget = getattr(importlib.import_module(module), cls)(id=f"{name}-view", classes="view")
    return view


class EngineEvent(Message):
    """An event of a task run by this dashboard (posted from its thread)."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event


class AskApproval(Message):
    """A tool call waits for the user's answer (posted from its task's thread)."""

    def __init__(
        self,
        task: Any,
        description: str,
        arguments: dict[str, Any] | None,
        reply: Callable[[Answer], None],
    ) -> None:
        super().__init__()
        self.task = task
        self.description = description
        self.arguments = arguments
        self.reply = reply


class Dashboard(App[None]):
    """The az dashboard. ``source`` defaults to the configured storage and
    plugins; tests pass their own (fixed clock, temp database)."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "az dashboard"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("1", "show('tasks')", "Tasks"),
        Binding("2", "show('run')", "Run"),
        Binding("3", "show('cost')", "Cost"),
        Binding("4", "show('health')", "Health"),
    ]

    def __init__(
        self,
        source: Source | None = None,
        theme: str = "dark",
        metrics: str = "all",
        poll_s: float = 0.5,
        health_s: float = 3.0,
        metrics_fn: Callable[[], dict[str, float]] | None = None,
        workspace: str | None = None,
        approval: str = "ask",
    ) -> None:
        super().__init__()
        self.source = source or Source()
        self.views = VIEWS[metrics]
        self.poll_s = poll_s
        self.health_s = health_s
        self.metrics_fn = metrics_fn or Source.system_metrics
        self.workspace = workspace or os.getcwd()
        self.approval = approval
        self.theme = THEMES[theme]
        self.runner = Runner(self.source, self._forward_event, self._ask)

    def compose(self) -> ComposeResult:
        with TabbedContent(initial=self.views[0], id="views"):
            for name in self.views:
                with TabPane(TITLES[name], id=name):
                    if name == self.views[0]:
                        yield make_view(name)
        yield Footer()

    def on_mount(self) -> None:
        self._activate(self.views[0])
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        """What the first screen does not need: the other views, the
        approval hook (before any task can be started here)."""
        self.runner.install()
        for name in self.views[1:]:
            self._view(name)
        self.call_after_refresh(settle_heap)

    def _view(self, name: str) -> Widget | None:
        """View ``name``'s widget; mounted now if it was not yet (then None:
        it is ready after the next refresh)."""
        try:
            return self.query_one(f"#{name}-view")
        except NoMatches:
            self.query_one(f"#{name}", TabPane).mount(make_view(name))
            return None

    def on_unmount(self) -> None:
        self.runner.shutdown()

    @property
    def _background_screens(self) -> list[Any]:
        """Screens that show through the current one: none when it is opaque.

        Textual counts the screen right below as visible even under an opaque
        one, and any change there (a Tasks row, the Run log, a counter) then
        repaints the whole screen on top: under the detail view of a running
        task that was a full 160×48 repaint per change. A covered screen keeps
        its changes and draws them when it is shown again (Textual repaints a
        resumed screen in full)."""
        screens: list[Any] = super()._background_screens
        try:
            opaque = self.screen.styles.background.a == 1
        except Exception:  # noqa: BLE001 - no screen yet: Textual's answer
            return screens
        return [] if opaque else screens

    # -- navigation ------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show" and parameters and parameters[0] not in self.views:
            return False
        return True

    def action_show(self, name: str) -> None:
        if name not in self.views:
            return
        if not isinstance(self.screen, type(self.screen_stack[0])):
            self.pop_screen()
        self.query_one("#views", TabbedContent).active = name
        self._activate(name)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._activate(event.pane.id)

    def _activate(self, name: str) -> None:
        """A view became visible: focus its main widget (so its keys work and
        no widget of a hidden view keeps the focus) and let it load what it shows."""
        view: Any = self._view(name)
        if view is None:  # just mounted: its widgets exist after the next refresh
            self.call_after_refresh(self._activate, name)
            return
        if name == "cost":
            view.query_one("#by-model").focus()
            self.call_after_refresh(view.activate)
        elif name == "health":
            self.set_focus(None)
            self.call_after_refresh(view.activate)
        elif name == "run":
            view.load_models()
            view.query_one("#prompt").focus()
        elif name == "tasks":
            view.query_one("#tasks-table").focus()

    def open_task(self, task_id: str) -> None:
        """Show the detail screen of ``task_id``."""
        from az_tui.detail import DetailScreen

        settle_heap()  # e.g. the engine's modules, loaded since start-up
        self.push_screen(DetailScreen(task_id))

    def cancel_task(self, task_id: str) -> None:
        """Cancel a task run here or elsewhere (in a worker: it may start ``az``)."""
        self.run_worker(lambda: self._cancel(task_id), thread=True, group="cancel")

    def _cancel(self, task_id: str) -> None:
        msg = self.runner.cancel(task_id)
        self.call_from_thread(self.notify, msg)

    # -- the engine's side -------------------------------------------------------
    def _forward_event(self, event: dict[str, Any]) -> None:
        """From a task's thread: hand the event to the UI."""
        self.post_message(EngineEvent(event))

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        run_view: Any = self._view("run") if "run" in self.views else None
        if run_view is not None:
            run_view.show_event(event)
        if event["type"] == "warning":
            self.notify(str(event["data"].get("message")), severity="warning")
        if event["type"] not in changes():
            return  # model_call, tool_call, tool_result: the next turn event covers them
        tasks_view: Any = self._view("tasks") if "tasks" in self.views else None
        if tasks_view is not None:
            tasks_view.poll()
        for screen in self.screen_stack:
            nudge = getattr(screen, "nudge", None)
            if nudge is not None and getattr(screen, "task_id", None) == event.get("task_id"):
                nudge()

    def _ask(
        self,
        task: Any,
        description: str,
        arguments: dict[str, Any] | None,
        reply: Callable[[Answer], None],
    ) -> None:
        """From a task's thread: show the approval modal; ``reply`` gets the answer."""
        if not self.post_message(AskApproval(task, description, arguments, reply)):
            reply("deny")  # the app is closing: nobody to ask

    def on_ask_approval(self, message: AskApproval) -> None:
        from az_tui.run_view import ApprovalModal

        modal = ApprovalModal(message.task, message.description, message.arguments)
        self.push_screen(modal, lambda answer: message.reply(answer or "deny"))


def run_dashboard(theme: str = "dark", metrics: str = "all") -> None:
    """Run the dashboard in this terminal until the user quits.

    Raises the kernel's one-line errors before the screen is taken over: a
    broken config (ConfigError), no storage backend (PluginMissingError), a
    database that cannot be opened (StorageError)."""
    source = Source()
    source.storage.list_tasks(limit=1)  # opens (and checks) the database
    Dashboard(source=source, theme=theme, metrics=metrics).run()
