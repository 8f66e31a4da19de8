"""LedgerView: the ledger as a table and a spend chart, refreshed as jobs finish."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import ipywidgets as w

if TYPE_CHECKING:
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


class LedgerView(w.VBox):
    """Recent submissions, spend per experiment, and a chart of credits over time."""

    def __init__(self, studio: Studio, rows: int = 15) -> None:
        self.studio = studio
        self.rows = rows
        self.summary = w.HTML()
        self.table = w.HTML()
        self.chart = w.Image(format="png", layout=w.Layout(max_width="640px"))
        self.refresh_button = w.Button(description="refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__(
            [
                w.HBox([w.HTML("<b>Credits by experiment</b>"), self.refresh_button]),
                self.summary,
                self.chart,
                w.HTML("<b>Recent submissions</b>"),
                self.table,
            ]
        )
        self.add_class("sd-ledger-view")
        studio.on_job_update(self._job_changed)
        self.refresh()

    def _job_changed(self, job: Job) -> None:
        if job.done:
            self.refresh()

    def refresh(self) -> None:
        """Re-read the ledger (only rows that changed) and redraw, summary last."""
        ledger = self.studio.ledger
        df = ledger.df
        summary = (
            ledger.summary().to_html(classes="sd-table")
            if len(df)
            else ("<i>nothing submitted yet</i>")
        )
        buffer = io.BytesIO()
        ledger.plot().savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        self.table.value = (
            df[COLUMNS].tail(self.rows).iloc[::-1].to_html(classes="sd-table", na_rep="")
        )
        self.chart.value = buffer.getvalue()
        self.summary.value = summary

    def __repr__(self) -> str:
        return f"LedgerView({self.studio.ledger!r})"
