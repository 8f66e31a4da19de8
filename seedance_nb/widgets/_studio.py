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


class Studio(RuntimeStudio):
    """Everything the runtime's Studio does, plus the builder, comparisons and ledger view."""

    def builder(self, experiment: str | None = None) -> RequestBuilder:
        """A request builder whose Generate button submits through this studio."""
        return RequestBuilder(self, experiment)

    def compare(self, jobs: Sequence[Job], experiment: str | None = None) -> Compare:
        """Two or more jobs side by side, playing in step, with a vote for the better one."""
        return Compare(jobs, self.ledger, experiment)

    def variations(  # type: ignore[override]
        self, req: Request, n: int = 4, *args: Any, **kwargs: Any
    ) -> Compare:
        """Takes 1..n of one request, side by side as they land (the jobs: `.jobs`)."""
        jobs = super().variations(req, n, *args, **kwargs)
        return self.compare(jobs, kwargs.get("experiment"))

    def ledger_view(self) -> LedgerView:
        """The ledger as a live table and spend chart."""
        return LedgerView(self)
