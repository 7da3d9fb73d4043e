"""The Cost view: spend by day (a bar chart) and by model for a period, the
budget, how much of it is used and the alert threshold.

Numbers come from the ``cost_tracking`` rows az-cost writes
(``Storage.list_costs``) and from the ``[cost]`` config section; nothing of
az-cost is imported. The chart (textual-plotext) is built the first time
the view is shown, so it costs nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from az_tui.data import PERIODS, CostSummary
from az_tui.render import usd

if TYPE_CHECKING:  # pragma: no cover
    from az_tui.app import Dashboard

#: Days shown in the chart at most (the latest ones).
CHART_DAYS = 31


class BudgetLine(Static):
    """The budget line, drawn at render time from the widget's own width, so
    the bar's length never depends on whether the numbers arrived before or
    after the first layout."""

    def __init__(self, **kw: Any) -> None:
        super().__init__("", **kw)
        self.summary: CostSummary | None = None

    def show(self, s: CostSummary) -> None:
        self.summary = s
        self.refresh()

    def render(self) -> Text:
        if self.summary is None:
            return Text()
        return budget_text(self.summary, self.size.width or 80)


class CostView(Vertical):
    """Spend for ``daily``, ``weekly``, ``monthly`` or ``all`` (``p`` cycles)."""

    BINDINGS = [Binding("p", "cycle_period", "Period")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.period = "monthly"
        self.summary: CostSummary | None = None
        self._plot: Any = None
        self._busy = False

    @property
    def dash(self) -> Dashboard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="cost-head")
        yield BudgetLine(id="budget")
        with Horizontal(id="cost-body"):
            yield Vertical(id="chart-box")
            table: DataTable[Any] = DataTable(id="by-model", cursor_type="row")
            table.add_column("model", key="model")
            table.add_column("calls", key="calls")
            table.add_column("USD", key="usd")
            yield table

    def activate(self) -> None:
        """Shown: build the chart once, then refresh every few seconds while visible."""
        if self._plot is None:
            from textual_plotext import PlotextPlot

            self._plot = PlotextPlot(id="chart")
            self.query_one("#chart-box", Vertical).mount(self._plot)
            self.set_interval(5.0, self.refresh_data)
        self.refresh_data()

    def refresh_data(self) -> None:
        if self._busy or not self.display or not self.is_on_screen:
            return
        self._busy = True
        self._load(self.period)

    @work(thread=True, exclusive=True, group="cost")
    def _load(self, period: str) -> None:
        try:
            summary = self.dash.source.cost_summary(period)
        finally:
            self._busy = False
        self.app.call_from_thread(self.show, summary)

    def show(self, s: CostSummary) -> None:
        self.summary = s
        label = {
            "daily": "today",
            "weekly": "this week",
            "monthly": "this month",
            "all": "all time",
        }
        head = Text()
        head.append(f"Spend {label[s.period]}: ", style="bold")
        head.append(usd(s.total_usd), style="bold")
        head.append(f"  ·  {s.calls:,} model calls  ·  period: {s.period} (p)", style="dim")
        self.query_one("#cost-head", Static).update(head)
        self.query_one("#budget", BudgetLine).show(s)
        table = self.query_one("#by-model", DataTable)
        table.clear()
        for model, cost, calls in s.by_model:
            table.add_row(
                model, Text(f"{calls:,}", justify="right"), Text(usd(cost), justify="right")
            )
        if self._plot is not None:
            days = s.by_day[-CHART_DAYS:]
            plt = self._plot.plt
            plt.clear_data()
            plt.clear_figure()
            labels = [d.strftime("%m-%d") for d, _ in days]
            values = [v for _, v in days]
            if labels:
                plt.bar(labels, values, width=0.6)
                # first, middle and last day only: labels never crowd each other out
                ticks = sorted({1, (len(labels) + 1) // 2, len(labels)})
                plt.xticks(ticks, [labels[i - 1] for i in ticks])
            plt.title("USD by day")
            self._plot.refresh()

    def action_cycle_period(self) -> None:
        self.period = PERIODS[(PERIODS.index(self.period) + 1) % len(PERIODS)]
        self._busy = False
        self.refresh_data()


def budget_text(s: CostSummary, width: int) -> Text:
    """``Budget $10.00 monthly  [█████░░░░░] 48% used ($4.80)  alert at 80%``."""
    b = s.budget
    t = Text()
    if b is None:
        t.append("No budget set ('az cost budget set --amount USD' sets one).", style="dim")
        return t
    pct = b.percent_used
    style = {"ok": "green", "alert": "yellow", "over": "bold red"}[b.level]
    t.append(f"Budget {usd(b.amount_usd)} {b.period}  ", style="bold")
    bar = max(10, min(40, width - 60))
    filled = int(round(bar * min(pct, 100.0) / 100.0))
    t.append("█" * filled, style=style)
    t.append("░" * (bar - filled), style="dim")
    t.append(f" {pct:.0f}% used ({usd(b.spent_usd)})", style=style)
    if b.alert_pct:
        t.append(f"  ·  alert at {b.alert_pct:.0f}%", style="dim")
    if b.level == "alert":
        t.append("  ALERT", style="bold yellow")
    elif b.level == "over":
        t.append("  OVER BUDGET", style="bold red")
    return t
