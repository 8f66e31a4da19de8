"""One shape for every benchmark figure, so `make bench` can write a single report."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Figure:
    """A measured value beside the baseline measured in the same run.

    `ratio` is value / baseline; `goal` is the bound the issue sets, as text (e.g. "<= 1 ms").
    `met` says whether the goal holds (None where there is no goal).
    """

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    def line(self) -> str:
        mark = {True: "met", False: "MISSED", None: ""}[self.met]
        return (
            f"{self.name}: {self.value:.4g} {self.unit} vs {self.baseline_name} "
            f"{self.baseline:.4g} {self.unit} (ratio {self.ratio:.3g}) {self.goal} {mark}".rstrip()
        )


def timeit(
    fn: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
) -> list[float]:
    """Seconds per call of `fn`, `repeat` times; `before` runs untimed ahead of each call."""
    out = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`."""
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]
