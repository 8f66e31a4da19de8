"""LedgerView: the ledger as a table and a spend chart, refreshed as jobs finish."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as w

from ._chart import chart_png
from ._live import Redraw, describe_error, listen

if TYPE_CHECKING:
    import pandas as pd

    from ..runtime import Job, Studio

COLUMNS = [
    "experiment",
    "label",
    "mode",
    "model",
    "status",
    "estimated_credits",
    "credits_used",
    "render_seconds",
    "prompt",
]
STYLE = (Path(__file__).parent / "ledger_view.css").read_text()


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    """A frame as a plain table: figures rounded, blanks empty, no border attribute."""
    return frame.to_html(
        classes="sd-table", border=0, na_rep="", index=index, float_format=lambda v: f"{v:.1f}"
    )


class LedgerView(w.VBox):
    """Spend per experiment against its budget, a chart of credits over time, and the recent
    submissions. It redraws on a worker thread, at most once a second, when a job ends (never
    on the studio's loop), and shows its own errors under itself."""

    def __init__(self, studio: Studio, rows: int = 15) -> None:
        self.studio = studio
        self.rows = rows
        self.summary = w.HTML()
        self.table = w.HTML()
        self.errors = w.HTML()  # this view's own trouble, under it
        self.chart = w.Image(format="png", layout=w.Layout(max_width="640px"))
        self.refresh_button = w.Button(description="refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.redraw.now())
        super().__init__(
            [
                w.HTML(f"<style>{STYLE}</style>"),
                w.HBox([w.HTML("<b>Credits by experiment</b>"), self.refresh_button]),
                self.summary,
                self.chart,
                w.HTML("<b>Recent submissions</b>"),
                self.table,
                self.errors,
            ]
        )
        self.add_class("sd-ledger-view")
        self.redraw = Redraw(self.refresh, self._show_error)
        self._unsubscribe = listen(self, studio.on_job_update, "_job_changed")
        self.redraw.now()

    def close(self) -> None:
        """Stop following the studio, then close the widget and its parts."""
        self._unsubscribe()
        for child in self.children:
            child.close()
        super().close()

    def _job_changed(self, job: Job) -> None:
        if job.done:
            self.redraw()

    def _show_error(self, exc: BaseException | None) -> None:
        text = "" if exc is None else html.escape(describe_error(exc))
        self.errors.value = f'<div class="sd-ledger-error">{text}</div>' if text else ""

    def refresh(self) -> None:
        """Re-read the ledger (once, and only rows that changed) and redraw, summary last."""
        ledger = self.studio.ledger
        df = ledger.df_full  # the table, the summary and the chart all come from this read
        if len(df):
            summary = ledger.summary(frame=df)
            budgets = [ledger.budget(str(name)) for name in summary.index]
            summary.insert(0, "budget", [b if b is not None else "" for b in budgets])
            pairs = zip(budgets, summary["used"], strict=True)
            summary.insert(1, "left", ["" if b is None else b - spent for b, spent in pairs])
            summary_html = _table(summary)
        else:
            summary_html = "<i>nothing submitted yet</i>"
        chart = chart_png(ledger, df)
        recent = df[COLUMNS].tail(self.rows).iloc[::-1].copy()
        for column in ("estimated_credits", "credits_used"):  # whole credits, blanks empty
            recent[column] = recent[column].astype("Int64")
        self.table.value = _table(recent)
        self.chart.value = chart
        self.summary.value = summary_html

    def __repr__(self) -> str:
        return f"LedgerView({self.studio.ledger!r})"
