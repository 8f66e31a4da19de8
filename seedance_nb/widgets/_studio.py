"""The notebook Studio: the runtime's Studio with its views."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..api import Request
from ..runtime import Job
from ..runtime import Studio as RuntimeStudio
from ._builder import RequestBuilder
from ._compare import Compare
from ._ledger_view import LedgerView
from ._task_view import TaskView


class Studio(RuntimeStudio):
    """Everything the runtime's Studio does, plus the builder, comparisons and ledger view.

    Views are made once and shown again: re-running `studio.compare(jobs)` or
    `studio.ledger_view()` returns the same live view, so re-runs add no subscribers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compares: dict[tuple[Any, ...], Compare] = {}
        self._ledger_view: LedgerView | None = None

    def _reused(self, job: Job) -> None:
        """A re-run handed back an earlier job (the ledger's own dedupe said so, in the insert's
        transaction): its card says "reused: nothing spent"."""
        TaskView.mark_reused(job)

    def builder(self, experiment: str | None = None) -> RequestBuilder:
        """A request builder whose Generate button submits through this studio."""
        return RequestBuilder(self, experiment)

    def compare(self, jobs: Sequence[Job], experiment: str | None = None) -> Compare:
        """Two or more jobs side by side, playing in step, with a vote for the better one."""
        key = (tuple(job.id for job in jobs), experiment)
        view = self._compares.get(key)
        if view is None or view.comm is None:  # none yet, or closed
            view = self._compares[key] = Compare(jobs, self.ledger, experiment)
        return view

    def variations(  # type: ignore[override]
        self, req: Request, n: int = 4, *args: Any, **kwargs: Any
    ) -> Compare:
        """Takes 1..n of one request, side by side as they land (the jobs: `.jobs`)."""
        jobs = super().variations(req, n, *args, **kwargs)
        return self.compare(jobs, kwargs.get("experiment"))

    def ledger_view(self) -> LedgerView:
        """The ledger as a live table and spend chart (one per studio, shown again on re-runs)."""
        view = self._ledger_view
        if view is None or view.comm is None:
            view = self._ledger_view = LedgerView(self)
        return view
