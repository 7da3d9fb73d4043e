"""``az dashboard``: the Textual app.

Views (tabs; keys 1-4 or the mouse): Tasks, Run, Cost, Health; Enter on a
task opens its detail screen. ``--metrics`` picks the views: ``all``;
``tasks`` (Tasks and Run); ``cost``; ``health``. ``--theme dark|light``.

Everything is read through the kernel's contracts (:mod:`az_tui.data`);
tasks started here run in the kernel's engine (:mod:`az_tui.runner`), and
their approval questions come through the kernel's policy as a modal.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from az_os.engine import LIFECYCLE
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, TabbedContent, TabPane

from az_tui.cost_view import CostView
from az_tui.data import Source
from az_tui.detail import DetailScreen
from az_tui.health_view import HealthView
from az_tui.run_view import ApprovalModal, RunView
from az_tui.runner import Answer, Runner
from az_tui.tasks_view import TasksView

THEMES = {"dark": "textual-dark", "light": "textual-light"}
VIEWS = {
    "all": ("tasks", "run", "cost", "health"),
    "tasks": ("tasks", "run"),
    "cost": ("cost",),
    "health": ("health",),
}
#: Engine events after which stored rows changed (worth a look right away):
#: the lifecycle events and the engine's own end-of-run event.
CHANGES = frozenset(LIFECYCLE | {"stopped"})
TITLES = {"tasks": "Tasks", "run": "Run", "cost": "Cost", "health": "Health"}


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
                    yield {
                        "tasks": TasksView,
                        "run": RunView,
                        "cost": CostView,
                        "health": HealthView,
                    }[name](id=f"{name}-view")
        yield Footer()

    def on_mount(self) -> None:
        self.runner.install()
        self._activate(self.views[0])

    def on_unmount(self) -> None:
        self.runner.shutdown()

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
        view = self.query_one(f"#{name}-view")
        if isinstance(view, CostView):
            view.query_one("#by-model").focus()
            self.call_after_refresh(view.activate)
        elif isinstance(view, HealthView):
            self.set_focus(None)
            self.call_after_refresh(view.activate)
        elif isinstance(view, RunView):
            view.load_models()
            view.query_one("#prompt").focus()
        elif isinstance(view, TasksView):
            view.query_one("#tasks-table").focus()

    def open_task(self, task_id: str) -> None:
        """Show the detail screen of ``task_id``."""
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
        if "run" in self.views:
            self.query_one("#run-view", RunView).show_event(event)
        if event["type"] == "warning":
            self.notify(str(event["data"].get("message")), severity="warning")
        if event["type"] not in CHANGES:
            return  # model_call, tool_call, tool_result: the next turn event covers them
        if "tasks" in self.views:
            self.query_one("#tasks-view", TasksView).poll()
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.task_id == event.get("task_id"):
                screen.nudge()

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
        modal = ApprovalModal(message.task, message.description, message.arguments)
        self.push_screen(modal, lambda answer: message.reply(answer or "deny"))


def run_dashboard(theme: str = "dark", metrics: str = "all") -> None:
    """Run the dashboard in this terminal until the user quits.

    Raises the kernel's one-line errors before the screen is taken over: a
    broken config (ConfigError), no storage backend (PluginMissingError), a
    database that cannot be opened (StorageError)."""
    source = Source()
    source.storage.count_tasks()
    Dashboard(source=source, theme=theme, metrics=metrics).run()
