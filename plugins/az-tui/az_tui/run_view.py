"""The Run view: start a task (prompt, workspace, model, approval mode) and
watch it; the approval modal for tool calls the policy sends to ``ask``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RichLog, Select, Static

from az_tui.render import event_line

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import Task

    from az_tui.app import Dashboard

ROUTED = "__routed__"
APPROVALS = ("ask", "auto", "read-only")


class RunView(Vertical):
    """Start a task and follow it."""

    BINDINGS = [
        Binding("ctrl+r", "run", "Run task"),
        Binding("escape", "leave", "Leave the form"),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.task_id: str | None = None
        self._models_loaded = False

    @property
    def dash(self) -> Dashboard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="What should the agent do?  (Enter runs it)", id="prompt")
        with Horizontal(id="run-where"):
            yield Input(value=self.dash.workspace, placeholder="workspace", id="workspace")
            yield Button("Run", id="run-button", variant="primary")
        with Horizontal(id="run-options"):
            yield Select(
                [("model: routed", ROUTED)],
                value=ROUTED,
                allow_blank=False,
                id="model",
            )
            yield Select(
                [(f"approve: {a}", a) for a in APPROVALS],
                value=self.dash.approval,
                allow_blank=False,
                id="approve",
            )
        yield Static("", id="run-status")
        yield RichLog(id="run-log", wrap=True, markup=False, auto_scroll=True)

    def load_models(self) -> None:
        """Fill the model list (once; the model plugins load in a thread)."""
        if not self._models_loaded:
            self._models_loaded = True
            self._load_models()

    @work(thread=True, group="run-models")
    def _load_models(self) -> None:
        try:
            ids = sorted(self.dash.source.host.models())
        except Exception:  # noqa: BLE001 - the routed default still works
            ids = []
        self.app.call_from_thread(self._set_models, ids)

    def _set_models(self, ids: list[str]) -> None:
        select = self.query_one("#model", Select)
        select.set_options([("model: routed", ROUTED), *[(f"model: {i}", i) for i in ids]])
        select.value = ROUTED

    @on(Input.Submitted, "#prompt")
    @on(Button.Pressed, "#run-button")
    def _run_requested(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        """Start the task described in the prompt."""
        from az_os.types import Task

        prompt = self.query_one("#prompt", Input).value.strip()
        status = self.query_one("#run-status", Static)
        if not prompt:
            status.update("Type what the agent should do first.")
            return
        workspace = Path(self.query_one("#workspace", Input).value or ".").expanduser()
        if not workspace.is_dir():
            status.update(f"workspace '{workspace}' is not a directory")
            return
        model = self.query_one("#model", Select).value
        approval = str(self.query_one("#approve", Select).value)
        config = self.dash.source.config
        task = Task(
            description=prompt,
            model=None if model in (ROUTED, Select.BLANK) else str(model),
            workspace=str(workspace.resolve()),
            approval=approval,  # type: ignore[arg-type]
            max_turns=config.agent.max_turns,
        )
        self.task_id = task.id
        log = self.query_one("#run-log", RichLog)
        log.clear()
        status.update(f"task {task.id} running  (approve: {approval})")
        self.dash.runner.start(task)

    def action_leave(self) -> None:
        self.query_one("#run-log", RichLog).focus()

    def show_event(self, event: dict[str, Any]) -> None:
        """An engine event of the task started here."""
        if event.get("task_id") != self.task_id:
            return
        line = event_line(event)
        if line is not None:
            self.query_one("#run-log", RichLog).write(line)
        kind = event["type"]
        if kind in ("completed", "failed", "cancelled", "interrupted"):
            self.query_one("#run-status", Static).update(
                f"task {self.task_id} {kind}  (Tasks view, Enter: every turn)"
            )


class ApprovalModal(ModalScreen["Answer"]):
    """Asks whether one tool call may run: shows exactly what will run."""

    BINDINGS = [
        Binding("y", "answer('approve')", "Approve"),
        Binding("n", "answer('deny')", "Deny"),
        Binding("a", "answer('always')", "Always for this task"),
        Binding("escape", "answer('deny')", "Deny", show=False),
    ]

    def __init__(
        self, task: Task, description: str, arguments: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.az_task = task
        self.description = description
        self.arguments = arguments

    def compose(self) -> ComposeResult:
        with Vertical(id="approval"):
            yield Label("Approve this tool call?", id="approval-title")
            yield Static(f"task {self.az_task.id}: {self.az_task.description}", id="approval-task")
            yield Static(self.description, id="approval-call", markup=False)
            if self.arguments:
                yield Static(arguments_text(self.arguments), id="approval-args", markup=False)
            with Horizontal(id="approval-buttons"):
                yield Button("Approve (y)", id="approve", variant="success")
                yield Button("Deny (n)", id="deny", variant="error")
                yield Button("Always for this task (a)", id="always", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)  # type: ignore[arg-type]

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)  # type: ignore[arg-type]


def arguments_text(arguments: dict[str, Any], max_lines: int = 12) -> str:
    """The call's arguments as indented JSON, cut to ``max_lines`` lines."""
    text = json.dumps(arguments, indent=2, ensure_ascii=False, default=str)
    lines = text.splitlines()
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], f"… {len(lines) - max_lines + 1} more lines"]
    return "\n".join(lines)
