"""LedgerView's chart is drawn in a helper process (`ledger._plotter`), again only when the
rows it plots change, and here when no helper process can start."""

from __future__ import annotations

import pandas as pd
import pytest

from seedance_nb.ledger import _plotter
from seedance_nb.widgets import _chart


def frame(used: list[int]) -> pd.DataFrame:
    times = pd.date_range("2026-01-01", periods=len(used), freq="min", tz="UTC")
    return pd.DataFrame(
        {
            "experiment": pd.Categorical(["a", "b"] * (len(used) // 2) + ["a"] * (len(used) % 2)),
            "status": ["COMPLETED"] * len(used),
            "completed_at": times,
            "credits_used": used,
            "prompt": ["not plotted"] * len(used),
        }
    )


def test_the_helper_process_draws_the_chart_and_reports_its_errors() -> None:
    plotter = _plotter.Plotter()
    try:
        image = plotter.png(frame([160, 160, 320]))
        assert image[:4] == b"\x89PNG"
        child = plotter._child
        assert child is not None and child.poll() is None  # one child, kept for the next
        with pytest.raises(_plotter.PlotError, match="ValueError"):
            plotter.png(frame([160, 160]).assign(credits_used=["x", "y"]))
        assert plotter.png(frame([160]))[:4] == b"\x89PNG" and plotter._child is child
    finally:
        plotter.close()
    assert child.poll() is not None  # closed: the child ended


class Ledger:
    """A stand-in: the chart cache keys on the ledger object (weakly)."""


def test_a_chart_is_drawn_again_only_when_its_rows_change(monkeypatch) -> None:
    drawn: list[int] = []
    monkeypatch.setattr(_chart, "_drawn", lambda plotted: drawn.append(len(plotted)) or b"png")
    ledger = Ledger()
    assert _chart.chart_png(ledger, frame([160, 160])) == b"png"
    assert _chart.chart_png(ledger, frame([160, 160]).assign(prompt="changed")) == b"png"
    assert drawn == [2]  # a column the chart does not plot changed: no new drawing
    _chart.chart_png(ledger, frame([160, 320]))
    _chart.chart_png(Ledger(), frame([160, 320]))  # another ledger: its own drawing
    assert drawn == [2, 2, 2]


def test_without_a_helper_process_the_chart_is_drawn_here(monkeypatch) -> None:
    class NoProcess(_plotter.Plotter):
        def png(self, frame: pd.DataFrame, dpi: int = 80) -> bytes:
            raise OSError("no processes in this sandbox")

    monkeypatch.setattr(_chart, "_plotter", NoProcess())
    image = _chart._drawn(frame([160, 320])[_plotter.PLOTTED])
    assert image[:4] == b"\x89PNG" and _chart._plotter is None  # and here from now on


def test_a_hung_helper_is_killed_and_the_next_drawing_starts_a_new_one(monkeypatch) -> None:
    """A child that stops answering (here SIGSTOP) never holds a view's redraw for ever: past
    ANSWER_WITHIN it is killed, the caller is told (and draws itself), and the next drawing
    gets a fresh child."""
    import signal

    plotter = _plotter.Plotter()
    try:
        assert plotter.png(frame([160]))[:4] == b"\x89PNG"
        hung = plotter._child
        assert hung is not None
        hung.send_signal(signal.SIGSTOP)
        monkeypatch.setattr(_plotter, "ANSWER_WITHIN", 0.5)
        with pytest.raises(OSError, match=r"no answer in 0\.5 s"):
            plotter.png(frame([160, 320]))
        assert hung.poll() is not None  # killed and reaped
        monkeypatch.setattr(_plotter, "ANSWER_WITHIN", 60.0)
        assert plotter.png(frame([160, 320]))[:4] == b"\x89PNG" and plotter._child is not hung
    finally:
        plotter.close()
